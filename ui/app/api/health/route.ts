// GET /api/health: 200 once the UI server is up. It does not ask the gateway,
// so a runner can wait for the UI without depending on the rest.

export const dynamic = "force-dynamic";

export function GET(): Response {
  return Response.json({ status: "ok" }, { headers: { "Cache-Control": "no-store" } });
}
