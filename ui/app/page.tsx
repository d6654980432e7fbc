import { cookies, headers } from "next/headers";
import { PaymentsApp } from "@/components/PaymentsApp";
import { LOCALE_COOKIE, pickLocale } from "@/lib/i18n";
import { userIdFrom } from "@/lib/server/user";

export default async function Home() {
  const jar = await cookies();
  const locale = pickLocale(jar.get(LOCALE_COOKIE)?.value, (await headers()).get("accept-language"));
  // The proxy (proxy.ts) has given this request a user cookie if it had none.
  const userId = userIdFrom(jar);
  if (!userId) throw new Error("no user cookie: proxy.ts did not run for this request");
  return <PaymentsApp userId={userId} locale={locale} />;
}
