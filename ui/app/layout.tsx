import type { Metadata, Viewport } from "next";
import { cookies, headers } from "next/headers";
import { LOCALE_COOKIE, pickLocale } from "@/lib/i18n";
import "./globals.css";

export const metadata: Metadata = {
  title: "Payment Pet",
  description: "Create a payment and watch the provider's answer arrive.",
};

export const viewport: Viewport = {
  width: "device-width",
  initialScale: 1,
  colorScheme: "light dark",
};

export default async function RootLayout({ children }: { children: React.ReactNode }) {
  const locale = pickLocale((await cookies()).get(LOCALE_COOKIE)?.value, (await headers()).get("accept-language"));
  return (
    <html lang={locale}>
      <body>{children}</body>
    </html>
  );
}
