import type { IncomingHttpHeaders } from "node:http";

/** The request header the front server sets to the client's address for route handlers; any value a client sends is replaced. */
export const CLIENT_HEADER = "x-penumbra-client";

/**
 * Who a request comes from. Directly, the socket's address. Behind a proxy, the header it names
 * (PENUMBRA_CLIENT_ADDRESS_HEADER, e.g. x-forwarded-for or x-real-ip): a list's last entry, the one
 * the proxy itself added, since a client can write any entries before it. Without the header the
 * request did not pass the proxy, and the socket's address is used.
 */
export function clientAddress(headers: IncomingHttpHeaders, socketAddress: string | undefined, header: string | null): string {
  const raw = header === null ? undefined : headers[header.toLowerCase()];
  const value = Array.isArray(raw) ? raw.join(",") : raw;
  const forwarded = value
    ?.split(",")
    .map((entry) => entry.trim())
    .filter(Boolean)
    .at(-1);
  return normalize(forwarded ?? socketAddress ?? "unknown");
}

/** One client, one key: IPv4 seen through an IPv6 socket loses its ::ffff: prefix. */
function normalize(address: string): string {
  return address.startsWith("::ffff:") && address.includes(".") ? address.slice("::ffff:".length) : address;
}
