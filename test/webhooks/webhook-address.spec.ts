import { isRefusedAddress } from '../../src/webhooks/webhook-address';

/**
 * The production SSRF rule on resolved addresses (an AAAA or A answer at delivery time), where no
 * URL parser normalises anything first. Refused: every range that is not a public unicast
 * destination, including IPv6 forms that embed an IPv4 address and reach it through a gateway.
 */
describe('webhook address rule', () => {
  it.each([
    ['127.0.0.1', 'loopback'],
    ['169.254.169.254', 'metadata'],
    ['10.0.0.1', 'private'],
    ['::1', 'IPv6 loopback'],
    ['::ffff:10.0.0.1', 'IPv4-mapped, dotted'],
    ['::ffff:a9fe:a9fe', 'IPv4-mapped, hex'],
    ['::a9fe:a9fe', 'IPv4-compatible (::/96)'],
    ['::ffff:0:a9fe:a9fe', 'SIIT IPv4-translated (::ffff:0:0/96)'],
    ['64:ff9b::a9fe:a9fe', 'well-known NAT64 prefix'],
    ['64:ff9b:1::a9fe:a9fe', 'local-use NAT64 prefix (64:ff9b:1::/48)'],
    ['2002:a9fe:a9fe::1', '6to4 (2002::/16)'],
    ['2001:0:4136:e378:8000:63bf:3fff:fdd2', 'Teredo (2001::/32)'],
    ['100::1', 'discard-only (100::/64)'],
    ['fec0::1', 'deprecated site-local (fec0::/10)'],
    ['2001:2::1', 'benchmarking (2001:2::/48)'],
  ])('refuses %s (%s)', (address) => {
    expect(isRefusedAddress(address)).toBe(true);
  });

  it.each(['93.184.215.14', '2606:2800:21f:cb07:6820:80da:af6b:8b2c', '2a00:1450:4001:82a::200e'])('lets the public address %s through', (address) => {
    expect(isRefusedAddress(address)).toBe(false);
  });
});
