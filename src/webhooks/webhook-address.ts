import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { BlockList, isIP } from 'node:net';
import { LedgerError } from '../common/errors';

/**
 * The SSRF rule: in production no webhook goes to a private, loopback, link-local, unique-local,
 * CGNAT, unspecified or metadata address, nor to an IPv6 form that embeds an IPv4 one (NAT64,
 * 6to4, Teredo, IPv4-compatible, SIIT), checked on the URL at registration and on every resolved
 * address at delivery (a name re-pointed after registration is caught then). Hosts on
 * WEBHOOK_ALLOWED_HOSTS are exempt. Outside production loopback and private addresses are allowed
 * (a receiver on the same machine works), and http:// too.
 */
const refused = new BlockList();
for (const [net, prefix] of [
  ['0.0.0.0', 8], ['10.0.0.0', 8], ['100.64.0.0', 10], ['127.0.0.0', 8], ['169.254.0.0', 16], ['172.16.0.0', 12], ['192.0.0.0', 24],
  ['192.168.0.0', 16], ['198.18.0.0', 15], ['224.0.0.0', 4], ['240.0.0.0', 4],
] as const) refused.addSubnet(net, prefix, 'ipv4');
// IPv6: unspecified and loopback inside ::/96 (IPv4-compatible, deprecated), SIIT, unique-local,
// link-local, deprecated site-local, multicast, discard-only, documentation, benchmarking, and
// the forms that reach an embedded IPv4 address through a gateway: NAT64 (well-known and local-use),
// 6to4 and Teredo. None of them is a public receiver's address.
for (const [net, prefix] of [
  ['::', 96], ['::ffff:0:0:0', 96], ['fc00::', 7], ['fe80::', 10], ['fec0::', 10], ['ff00::', 8], ['100::', 64], ['2001:db8::', 32], ['2001:2::', 48],
  ['64:ff9b::', 96], ['64:ff9b:1::', 48], ['2002::', 16], ['2001::', 32],
] as const) refused.addSubnet(net, prefix, 'ipv6');

export interface AddressPolicy {
  production: boolean;
  allowedHosts: string[];
}

/** True when a literal address may not receive webhooks in production. */
export function isRefusedAddress(address: string): boolean {
  const family = isIP(address);
  if (family === 4) return refused.check(address, 'ipv4');
  if (family !== 6) return true;
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped) return refused.check(mapped[1], 'ipv4');
  return refused.check(address, 'ipv6');
}

const hostOf = (url: URL): string => url.hostname.replace(/^\[|\]$/g, '').toLowerCase();

/** WEBHOOK_ALLOWED_HOSTS entries are a host (any port) or host:port. */
function allowListed(url: URL, policy: AddressPolicy): boolean {
  const port = url.port || (url.protocol === 'https:' ? '443' : '80');
  return policy.allowedHosts.includes(url.hostname.toLowerCase()) || policy.allowedHosts.includes(`${url.hostname.toLowerCase()}:${port}`) || policy.allowedHosts.includes(hostOf(url));
}

/** Checks a URL at registration; the error never echoes more than the host. */
export function checkWebhookUrl(raw: string, policy: AddressPolicy): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new LedgerError('INVALID_WEBHOOK_URL', 'url must be an absolute http(s):// URL', 'url');
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new LedgerError('INVALID_WEBHOOK_URL', 'url must be an http(s):// URL', 'url');
  if (url.username || url.password) throw new LedgerError('INVALID_WEBHOOK_URL', 'url must not carry a user name or password: authenticate the deliveries by their signature', 'url');
  if (raw.length > 2048) throw new LedgerError('INVALID_WEBHOOK_URL', 'url is longer than 2048 characters', 'url');
  if (!policy.production) return url;
  const host = hostOf(url);
  if (allowListed(url, policy)) return url;
  if (url.protocol !== 'https:') throw new LedgerError('WEBHOOK_URL_REFUSED', `webhook URLs must use https:// in production (host ${host} is not on WEBHOOK_ALLOWED_HOSTS)`, 'url');
  if (host === 'localhost' || host.endsWith('.localhost') || host.endsWith('.internal') || (isIP(host) !== 0 && isRefusedAddress(host))) {
    throw new LedgerError('WEBHOOK_URL_REFUSED', `webhook URL host ${host} is a private, loopback, link-local or metadata address: use a public address`, 'url');
  }
  return url;
}

type LookupCallback = (err: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void;

/**
 * A `lookup` for http.request that resolves the name and refuses private answers in production, so
 * the address checked is the address connected to (no window for DNS rebinding).
 */
export function guardedLookup(policy: AddressPolicy, url: URL): (hostname: string, options: object, callback: LookupCallback) => void {
  const host = hostOf(url);
  return (hostname, options, callback) => {
    dnsLookup(hostname, { ...options, all: true }, (err, addresses) => {
      if (err) return callback(err, []);
      const list = addresses as LookupAddress[];
      if (policy.production && !allowListed(url, policy)) {
        const bad = list.find((a) => isRefusedAddress(a.address));
        if (bad) return callback(Object.assign(new Error(`WEBHOOK_URL_REFUSED: ${host} resolves to a private address`), { code: 'WEBHOOK_URL_REFUSED' }), []);
        if (url.protocol !== 'https:') return callback(Object.assign(new Error(`WEBHOOK_URL_REFUSED: http:// to ${host} in production`), { code: 'WEBHOOK_URL_REFUSED' }), []);
      }
      if ((options as { all?: boolean }).all) return callback(null, list);
      return callback(null, list[0].address, list[0].family);
    });
  };
}

/** The delivery-time check of a literal address host (no lookup happens for those; names are checked by guardedLookup). */
export function refusedAtDelivery(url: URL, policy: AddressPolicy): string | null {
  const host = hostOf(url);
  if (!policy.production || allowListed(url, policy)) return null;
  if (isIP(host) === 0) return null; // a name: guardedLookup checks what it resolves to
  if (isRefusedAddress(host)) return `WEBHOOK_URL_REFUSED: ${host} is a private address`;
  if (url.protocol !== 'https:') return `WEBHOOK_URL_REFUSED: http:// to ${host} in production`;
  return null;
}
