import { cookies, headers } from "next/headers";
import { SystemPage } from "@/components/SystemPage";
import { LOCALE_COOKIE, pickLocale } from "@/lib/i18n";

export const metadata = { title: "Payment Pet · System" };

export default async function System() {
  const locale = pickLocale((await cookies()).get(LOCALE_COOKIE)?.value, (await headers()).get("accept-language"));
  return <SystemPage locale={locale} />;
}
