import {
  DEFAULT_POLICY,
  FINDING_CODES,
  detectFindings,
  detectShipmentIncidents,
  distanceMetres,
  highestSeverity,
  type DetectorPolicy,
  type Finding,
  type FindingCode,
  type FraudEvent,
  type FraudShipment,
  type KeyWindow,
  type ShipmentIncidentInput,
} from '../../src/fraud/detectors';

// ---------------------------------------------------------------------------------------------
// fixture: one clean Berlin journey, 4–5 March 2025 (UTC)
//   LABEL_CREATED  07:40  merchant "kiez-kaffee" (no position)
//   PICKED_UP      09:00  Kreuzberg warehouse, counter-signed by the merchant
//   ARRIVED_AT_FACILITY 09:45  swiftpost hub Großbeeren (17.4 km, ~23 km/h)
//   OUT_FOR_DELIVERY    07:30 next day at the hub
//   DELIVERED      10:15  at the door in Prenzlauer Berg, 12 m from the destination (50 m geofence)

const ZERO_HASH = `0x${'0'.repeat(64)}`;
const EVIDENCE = `0x${'ab'.repeat(32)}`;
const HOUR = 3_600_000;

const PLACES = {
  warehouse: { latE6: 52_497_900, lonE6: 13_409_900 }, // Kreuzberg
  hub: { latE6: 52_353_600, lonE6: 13_309_500 }, // Großbeeren freight village
  door: { latE6: 52_538_700, lonE6: 13_409_520 }, // Kastanienallee, at the front door
  destination: { latE6: 52_538_620, lonE6: 13_409_410 }, // the geocoded address
  hamburg: { latE6: 53_551_100, lonE6: 9_993_700 },
  unknown: { latE6: 0, lonE6: 0, accuracyM: 0 },
};

const KEY = {
  merchantShop: '0x1111111111111111111111111111111111111111',
  merchantWarehouse: '0x2222222222222222222222222222222222222222',
  pickupDriver: '0x3333333333333333333333333333333333333333',
  hubScanner: '0x4444444444444444444444444444444444444444',
  courier: '0x5555555555555555555555555555555555555555',
  carrierOps: '0x6666666666666666666666666666666666666666',
  partnerCourier: '0x7777777777777777777777777777777777777777',
};

const ms = (iso: string): bigint => BigInt(Date.parse(iso));
const at = (t: bigint): Date => new Date(Number(t));
/** bytes32-looking ids that still read well in failures */
const id = (label: string): string => `0x${Buffer.from(label).toString('hex').padEnd(64, '0')}`;

interface Fixture {
  shipment: FraudShipment;
  events: FraudEvent[];
  keys: Map<string, KeyWindow>;
  now: Date;
}

function event(label: string, eventType: string, occurredAtIso: string, arrival: number, patch: Partial<FraudEvent> = {}): FraudEvent {
  const occurredAt = ms(occurredAtIso);
  return {
    eventId: id(label),
    eventType,
    occurredAt,
    receivedAt: new Date(Number(occurredAt) + 4_000), // uploaded a few seconds later
    arrival,
    ...PLACES.unknown,
    custodian: 'swiftpost',
    signer: KEY.courier,
    signerOrganization: 'swiftpost',
    counterSigner: null,
    dualAttested: false,
    evidenceHash: ZERO_HASH,
    flags: [],
    correctedBy: null,
    correctsEventId: null,
    ...patch,
  };
}

function journey(): Fixture {
  const keys = new Map<string, KeyWindow>();
  for (const address of Object.values(KEY)) keys.set(address.toLowerCase(), { validFrom: new Date('2025-01-01T00:00:00Z'), revokedAt: null });
  return {
    shipment: {
      trackingNumber: 'SP-DE-0042-7781',
      carrier: 'swiftpost',
      status: 'DELIVERED',
      destination: { ...PLACES.destination, radiusM: 50 },
      requireDeliveryEvidence: true,
      requireCounterSignedHandoffs: true,
      promisedDeliveryAt: new Date('2025-03-05T18:00:00Z'),
      deliveredAt: new Date('2025-03-05T10:15:00Z'),
    },
    events: [
      event('label', 'LABEL_CREATED', '2025-03-04T07:40:00Z', 1, { custodian: 'kiez-kaffee', signer: KEY.merchantShop, signerOrganization: 'kiez-kaffee' }),
      event('pickup', 'PICKED_UP', '2025-03-04T09:00:00Z', 2, {
        ...PLACES.warehouse,
        accuracyM: 10,
        signer: KEY.pickupDriver,
        counterSigner: KEY.merchantWarehouse,
        dualAttested: true,
      }),
      event('hub', 'ARRIVED_AT_FACILITY', '2025-03-04T09:45:00Z', 3, { ...PLACES.hub, accuracyM: 15, signer: KEY.hubScanner }),
      event('ofd', 'OUT_FOR_DELIVERY', '2025-03-05T07:30:00Z', 4, { ...PLACES.hub, accuracyM: 15 }),
      event('delivered', 'DELIVERED', '2025-03-05T10:15:00Z', 5, { ...PLACES.door, accuracyM: 8, evidenceHash: EVIDENCE }),
    ],
    keys,
    now: new Date('2025-03-05T12:00:00Z'),
  };
}

const ev = (fx: Fixture, label: string): FraudEvent => {
  const found = fx.events.find((e) => e.eventId === id(label));
  if (!found) throw new Error(`no event ${label}`);
  return found;
};
const nextArrival = (fx: Fixture): number => Math.max(...fx.events.map((e) => e.arrival)) + 1;
const add = (fx: Fixture, label: string, eventType: string, iso: string, patch: Partial<FraudEvent> = {}): FraudEvent => {
  const e = event(label, eventType, iso, nextArrival(fx), patch);
  fx.events.push(e);
  return e;
};
/** moves an event on the device clock; it is still uploaded a few seconds after it occurred */
const move = (e: FraudEvent, occurredAt: bigint): void => {
  e.occurredAt = occurredAt;
  e.receivedAt = new Date(Number(occurredAt) + 4_000);
};
/** events inserted into the past: make them arrive in timeline order, as if uploaded live */
const renumber = (fx: Fixture): void => {
  [...fx.events].sort((a, b) => (a.occurredAt < b.occurredAt ? -1 : a.occurredAt > b.occurredAt ? 1 : a.arrival - b.arrival)).forEach((e, i) => (e.arrival = i + 1));
};
/** records a CORRECTION of `label` and marks the original as corrected, as the row query would */
const correct = (fx: Fixture, label: string, iso: string): FraudEvent => {
  const target = ev(fx, label);
  const c = add(fx, `corr-${label}`, 'CORRECTION', iso, { correctsEventId: target.eventId, signer: KEY.carrierOps });
  target.correctedBy = c.eventId;
  return c;
};

const run = (fx: Fixture, policy?: Partial<DetectorPolicy>): Finding[] => detectFindings({ ...fx, policy });
const codes = (findings: Finding[]): FindingCode[] => findings.map((f) => f.code);
/** exactly one finding, and return it */
function only(fx: Fixture, policy?: Partial<DetectorPolicy>): Finding {
  const findings = run(fx, policy);
  expect(codes(findings)).toHaveLength(1);
  return findings[0];
}

// ---------------------------------------------------------------------------------------------

describe('distanceMetres', () => {
  it('Brandenburg Gate to Alexanderplatz is about 2.46 km (within 1 %)', () => {
    const d = distanceMetres(52_516_275, 13_377_704, 52_521_918, 13_413_215);
    expect(Math.abs(d - 2460) / 2460).toBeLessThan(0.01);
    // independent check: equirectangular projection is exact enough over 2 km
    const kmPerDegLat = 111.195;
    const dx = 0.035511 * kmPerDegLat * Math.cos((52.5191 * Math.PI) / 180);
    const dy = 0.005643 * kmPerDegLat;
    expect(d / 1000).toBeCloseTo(Math.hypot(dx, dy), 2);
  });

  it('is zero for one point and symmetric', () => {
    expect(distanceMetres(52_516_275, 13_377_704, 52_516_275, 13_377_704)).toBe(0);
    expect(distanceMetres(1, 2, 3, 4)).toBeCloseTo(distanceMetres(3, 4, 1, 2), 9);
  });
});

describe('the clean journey', () => {
  it('yields no findings', () => {
    expect(run(journey())).toEqual([]);
  });

  it('yields no shipment incidents', () => {
    const fx = journey();
    expect(detectShipmentIncidents({ shipment: { ...fx.shipment, lastEventAt: at(ev(fx, 'delivered').occurredAt) }, now: fx.now })).toEqual([]);
  });

  it('gives the same answer whatever order the events come in', () => {
    const fx = journey();
    ev(fx, 'delivered').latE6 += 4_000; // ~440 m north: outside the fence
    ev(fx, 'pickup').dualAttested = false;
    const expected = run(fx);
    expect(expected).toHaveLength(2);
    fx.events.reverse();
    expect(run(fx)).toEqual(expected);
  });
});

describe('DELIVERY_OUTSIDE_GEOFENCE', () => {
  it('flags a delivery scanned down the street', () => {
    const fx = journey();
    const delivered = ev(fx, 'delivered');
    delivered.latE6 = 52_542_300; // ~410 m north of the door
    const d = distanceMetres(delivered.latE6, delivered.lonE6, PLACES.destination.latE6, PLACES.destination.lonE6);
    const f = only(fx);
    expect(f).toMatchObject({ code: 'DELIVERY_OUTSIDE_GEOFENCE', severity: 'HIGH', eventIds: [delivered.eventId] });
    expect(f.message).toContain(`${Math.round(d)} m from the destination 52.538620, 13.409410`);
    expect(f.message).toContain('by swiftpost');
    expect(f.message).toContain('2025-03-05T10:15:00Z');
  });

  describe('at the edge', () => {
    const fx = journey();
    const delivered = ev(fx, 'delivered');
    const d = distanceMetres(delivered.latE6, delivered.lonE6, PLACES.destination.latE6, PLACES.destination.lonE6);
    const withRadius = (radiusM: number): Finding[] => run({ ...fx, shipment: { ...fx.shipment, destination: { ...PLACES.destination, radiusM } } });

    it('exactly at radius + accuracy: no finding', () => {
      expect(withRadius(d - delivered.accuracyM)).toEqual([]);
    });
    it('a centimetre beyond: finding', () => {
      expect(codes(withRadius(d - delivered.accuracyM - 0.01))).toEqual(['DELIVERY_OUTSIDE_GEOFENCE']);
    });
    it('the GPS accuracy widens the fence', () => {
      // radius 0 → only the 8 m accuracy is allowed, and the scan is 11.6 m off
      expect(codes(withRadius(0))).toEqual(['DELIVERY_OUTSIDE_GEOFENCE']);
      delivered.accuracyM = 12;
      expect(withRadius(0)).toEqual([]);
      delivered.accuracyM = 8;
    });
  });

  it('is not raised without a position or without a destination', () => {
    const fx = journey();
    Object.assign(ev(fx, 'delivered'), PLACES.unknown);
    expect(codes(run(fx))).toEqual(['LOW_GPS_ACCURACY_ON_DELIVERY']);
    const far = journey();
    ev(far, 'delivered').latE6 = 52_542_300;
    far.shipment.destination = null;
    expect(run(far)).toEqual([]);
  });

  it('ignores a corrected out-of-fence delivery followed by a good one', () => {
    const fx = journey();
    const good = ev(fx, 'delivered');
    fx.events = fx.events.filter((e) => e !== good);
    add(fx, 'bad-delivered', 'DELIVERED', '2025-03-05T10:05:00Z', { latE6: 52_542_300, lonE6: PLACES.door.lonE6, accuracyM: 8, evidenceHash: EVIDENCE });
    correct(fx, 'bad-delivered', '2025-03-05T10:10:00Z');
    fx.events.push({ ...good, arrival: nextArrival(fx) });
    expect(run(fx)).toEqual([]);
  });

  it('also knows a corrected event from the CORRECTION alone (correctedBy not filled in)', () => {
    const fx = journey();
    ev(fx, 'delivered').latE6 = 52_542_300;
    correct(fx, 'delivered', '2025-03-05T10:20:00Z');
    ev(fx, 'delivered').correctedBy = null;
    add(fx, 'redelivered', 'DELIVERED', '2025-03-05T10:25:00Z', { ...PLACES.door, accuracyM: 8, evidenceHash: EVIDENCE });
    expect(run(fx)).toEqual([]);
  });
});

describe('IMPOSSIBLE_SPEED', () => {
  const pickupToHub = (): { fx: Fixture; movedM: number } => {
    const fx = journey();
    const d = distanceMetres(PLACES.warehouse.latE6, PLACES.warehouse.lonE6, PLACES.hub.latE6, PLACES.hub.lonE6);
    return { fx, movedM: d - ev(fx, 'pickup').accuracyM - ev(fx, 'hub').accuracyM };
  };
  /** hub scan timed so the leg runs at `kmh`, rounding the time so the speed stays on that side */
  const hubAtSpeed = (fx: Fixture, movedM: number, kmh: number, round: (x: number) => number): void => {
    ev(fx, 'hub').occurredAt = ev(fx, 'pickup').occurredAt + BigInt(round(((movedM / 1000) / kmh) * HOUR));
  };

  it('flags a parcel at a Hamburg hub 40 minutes after a Berlin pickup', () => {
    const fx = journey();
    Object.assign(ev(fx, 'hub'), PLACES.hamburg, { occurredAt: ms('2025-03-04T09:40:00Z') });
    const f = only(fx);
    expect(f).toMatchObject({ code: 'IMPOSSIBLE_SPEED', severity: 'HIGH', eventIds: [id('pickup'), id('hub')] });
    expect(f.message).toContain('moved 256.7 km in 40 min');
    expect(f.message).toMatch(/38\d km\/h/);
    expect(f.message).toContain('over the 200 km/h limit');
    expect(f.message).toContain('53.551100, 9.993700');
  });

  it('a policy for air freight raises the limit', () => {
    const fx = journey();
    Object.assign(ev(fx, 'hub'), PLACES.hamburg, { occurredAt: ms('2025-03-04T09:40:00Z') });
    expect(run(fx, { maxSpeedKmh: 900 })).toEqual([]);
  });

  it('just below the limit: no finding; just above: finding', () => {
    const below = pickupToHub();
    hubAtSpeed(below.fx, below.movedM, DEFAULT_POLICY.maxSpeedKmh * 0.99, Math.ceil);
    expect(run(below.fx)).toEqual([]);
    const above = pickupToHub();
    hubAtSpeed(above.fx, above.movedM, DEFAULT_POLICY.maxSpeedKmh * 1.01, Math.floor);
    expect(only(above.fx)).toMatchObject({ code: 'IMPOSSIBLE_SPEED', eventIds: [id('pickup'), id('hub')] });
    expect(only(above.fx).message).toContain('202 km/h');
  });

  it('two places at the same instant is impossible, unless the GPS error explains it', () => {
    const fx = journey();
    ev(fx, 'hub').occurredAt = ev(fx, 'pickup').occurredAt;
    const f = only(fx);
    expect(f).toMatchObject({ code: 'IMPOSSIBLE_SPEED', eventIds: [id('pickup'), id('hub')] });
    expect(f.message).toContain('at the same instant');

    const near = journey();
    // a second scan 40 m away, same millisecond, ±25 m each: within the GPS error
    add(near, 'rescan', 'ARRIVED_AT_FACILITY', '2025-03-04T09:45:00Z', { latE6: PLACES.hub.latE6 + 360, lonE6: PLACES.hub.lonE6, accuracyM: 25, signer: KEY.hubScanner });
    ev(near, 'hub').accuracyM = 25;
    renumber(near);
    expect(run(near)).toEqual([]);
  });
});

describe('TIME_WENT_BACKWARDS', () => {
  it('flags a hub scan uploaded after the next morning\'s out-for-delivery scan', () => {
    const fx = journey();
    const hub = ev(fx, 'hub');
    const ofd = ev(fx, 'ofd');
    [hub.arrival, ofd.arrival] = [ofd.arrival, hub.arrival];
    hub.receivedAt = new Date(ofd.receivedAt.getTime() + 60_000);
    const f = only(fx);
    expect(f).toMatchObject({ code: 'TIME_WENT_BACKWARDS', severity: 'MEDIUM', eventIds: [hub.eventId, ofd.eventId] });
    expect(f.message).toContain('occurred at 2025-03-04T09:45:00Z but arrived (arrival #4');
    expect(f.message).toContain('21 h 45 min later');
    expect(f.message).toContain('offline upload or a wrong device clock');
  });

  it('raises one finding per late event', () => {
    const fx = journey();
    ev(fx, 'pickup').arrival = 10;
    ev(fx, 'hub').arrival = 11;
    const findings = run(fx);
    expect(codes(findings)).toEqual(['TIME_WENT_BACKWARDS', 'TIME_WENT_BACKWARDS']);
    expect(findings.map((f) => f.eventIds)).toEqual([
      [id('pickup'), id('delivered')],
      [id('hub'), id('delivered')],
    ]);
  });
});

describe('SCAN_IN_FUTURE', () => {
  const receivedBefore = (fx: Fixture, aheadMs: number): void => {
    const delivered = ev(fx, 'delivered');
    delivered.receivedAt = new Date(Number(delivered.occurredAt) - aheadMs);
  };

  it('flags a delivery stamped two minutes after the service received it', () => {
    const fx = journey();
    receivedBefore(fx, 120_000);
    const f = only(fx);
    expect(f).toMatchObject({ code: 'SCAN_IN_FUTURE', severity: 'HIGH', eventIds: [id('delivered')] });
    expect(f.message).toContain('2 min after the service received it at 2025-03-05T10:13:00Z');
  });

  it('tolerates exactly futureToleranceMs, not a millisecond more', () => {
    const at = journey();
    receivedBefore(at, 60_000);
    expect(run(at)).toEqual([]);
    const beyond = journey();
    receivedBefore(beyond, 60_001);
    expect(codes(run(beyond))).toEqual(['SCAN_IN_FUTURE']);
  });

  it('honours a wider tolerance', () => {
    const fx = journey();
    receivedBefore(fx, 120_000);
    expect(run(fx, { futureToleranceMs: 5 * 60_000 })).toEqual([]);
  });
});

describe('DELIVERED_WITHOUT_OUT_FOR_DELIVERY', () => {
  it('flags a delivery that never went out for delivery', () => {
    const fx = journey();
    fx.events = fx.events.filter((e) => e.eventType !== 'OUT_FOR_DELIVERY');
    const f = only(fx);
    expect(f).toMatchObject({ code: 'DELIVERED_WITHOUT_OUT_FOR_DELIVERY', severity: 'MEDIUM', eventIds: [id('delivered')] });
    expect(f.message).toContain('has no OUT_FOR_DELIVERY before it');
  });

  it('a corrected OUT_FOR_DELIVERY does not count', () => {
    const fx = journey();
    correct(fx, 'ofd', '2025-03-05T08:00:00Z');
    expect(codes(run(fx))).toEqual(['DELIVERED_WITHOUT_OUT_FOR_DELIVERY']);
  });

  it('an OUT_FOR_DELIVERY after the delivery does not count', () => {
    const fx = journey();
    move(ev(fx, 'ofd'), ms('2025-03-05T10:20:00Z'));
    expect(codes(run(fx))).toContain('DELIVERED_WITHOUT_OUT_FOR_DELIVERY');
  });

  it('a locker collection needs LOCKER_DEPOSITED, not OUT_FOR_DELIVERY', () => {
    const fx = journey();
    Object.assign(ev(fx, 'ofd'), { eventType: 'LOCKER_DEPOSITED', custodian: 'boxpoint', counterSigner: KEY.partnerCourier, dualAttested: true });
    Object.assign(ev(fx, 'delivered'), { eventType: 'COLLECTED_FROM_LOCKER', custodian: 'boxpoint', signerOrganization: 'boxpoint' });
    expect(run(fx)).toEqual([]);
  });
});

describe('DUPLICATE_DELIVERY', () => {
  it('flags a second delivery, once (not also as an event after the terminal one)', () => {
    const fx = journey();
    add(fx, 'delivered-again', 'DELIVERED', '2025-03-05T10:25:00Z', { ...PLACES.door, accuracyM: 8, evidenceHash: EVIDENCE });
    const f = only(fx);
    expect(f).toMatchObject({ code: 'DUPLICATE_DELIVERY', severity: 'HIGH', eventIds: [id('delivered'), id('delivered-again')] });
    expect(f.message).toContain('2 uncorrected deliveries');
    expect(f.message).toContain('2025-03-05T10:25:00Z');
  });

  it('counts a locker collection as a delivery too', () => {
    const fx = journey();
    add(fx, 'collected', 'COLLECTED_FROM_LOCKER', '2025-03-05T17:00:00Z', { ...PLACES.door, accuracyM: 8, evidenceHash: EVIDENCE, custodian: 'boxpoint', signerOrganization: 'boxpoint', signer: KEY.partnerCourier });
    expect(codes(run(fx))).toEqual(['DUPLICATE_DELIVERY']);
  });
});

describe('EVENT_AFTER_TERMINAL', () => {
  it('flags damage reported after delivery', () => {
    const fx = journey();
    add(fx, 'damage', 'EXCEPTION', '2025-03-05T16:00:00Z', { flags: ['AFTER_TERMINAL'], signer: KEY.carrierOps });
    const f = only(fx);
    expect(f).toMatchObject({ code: 'EVENT_AFTER_TERMINAL', severity: 'MEDIUM', eventIds: [id('damage'), id('delivered')] });
    expect(f.message).toContain('[flags: AFTER_TERMINAL]');
    expect(f.message).toContain('5 h 45 min after the shipment reached its terminal state with DELIVERED');
  });

  it('a CORRECTION after the terminal event is not one, and corrected events are ignored', () => {
    const fx = journey();
    add(fx, 'damage', 'EXCEPTION', '2025-03-05T16:00:00Z', { flags: ['AFTER_TERMINAL'], signer: KEY.carrierOps });
    correct(fx, 'damage', '2025-03-05T16:30:00Z');
    expect(run(fx)).toEqual([]);
  });

  it('the first terminal event counts, e.g. a delivery after LOST', () => {
    const fx = journey();
    add(fx, 'lost', 'LOST', '2025-03-05T09:00:00Z', { signer: KEY.carrierOps });
    renumber(fx);
    const findings = run(fx);
    expect(codes(findings)).toEqual(['EVENT_AFTER_TERMINAL']);
    expect(findings[0].eventIds).toEqual([id('delivered'), id('lost')]);
  });
});

describe('KEY_OUTSIDE_VALIDITY', () => {
  it('flags a delivery signed with a key revoked retroactively', () => {
    const fx = journey();
    fx.keys.get(KEY.courier)!.revokedAt = new Date('2025-03-05T09:00:00Z'); // after OFD (07:30), before DELIVERED (10:15)
    const f = only(fx);
    expect(f).toMatchObject({ code: 'KEY_OUTSIDE_VALIDITY', severity: 'HIGH', eventIds: [id('delivered')] });
    expect(f.message).toContain('signer key 0x555555…5555 of swiftpost');
    expect(f.message).toContain('revoked with effect from 2025-03-05T09:00:00Z, 1 h 15 min before the event occurred');
    expect(f.message).toContain('retroactive');
  });

  it('validFrom ≤ occurredAt < revokedAt, to the millisecond', () => {
    const t = ms('2025-03-05T10:15:00Z');
    const window = (validFrom: bigint, revokedAt: bigint | null): FindingCode[] => {
      const fx = journey();
      fx.keys.set(KEY.courier, { validFrom: at(validFrom), revokedAt: revokedAt === null ? null : at(revokedAt) });
      // OFD is signed by the same key; move it out of the way so only the delivery is judged
      ev(fx, 'ofd').signer = KEY.hubScanner;
      return codes(run(fx));
    };
    expect(window(t, t + 1n)).toEqual([]);
    expect(window(t - 1n, t)).toEqual(['KEY_OUTSIDE_VALIDITY']);
    expect(window(t + 1n, null)).toEqual(['KEY_OUTSIDE_VALIDITY']);
  });

  it('flags an unknown counter-signer key', () => {
    const fx = journey();
    fx.keys.delete(KEY.merchantWarehouse);
    const f = only(fx);
    expect(f).toMatchObject({ code: 'KEY_OUTSIDE_VALIDITY', eventIds: [id('pickup')] });
    expect(f.message).toContain('counter-signer key 0x222222…2222 on PICKED_UP');
    expect(f.message).toContain('is not a registered signing key');
  });

  it('matches keys case-insensitively', () => {
    const fx = journey();
    ev(fx, 'delivered').signer = '0x' + 'A'.repeat(40);
    fx.keys.set('0x' + 'a'.repeat(40), { validFrom: new Date('2025-01-01T00:00:00Z'), revokedAt: null });
    expect(run(fx)).toEqual([]);
  });

  it('checks corrections too: a revoked key must not void a genuine event quietly', () => {
    const fx = journey();
    add(fx, 'damage', 'EXCEPTION', '2025-03-05T16:00:00Z', { flags: ['AFTER_TERMINAL'], signer: KEY.courier });
    const c = correct(fx, 'damage', '2025-03-05T16:30:00Z');
    fx.keys.get(KEY.carrierOps)!.revokedAt = new Date('2025-03-05T16:00:00Z');
    const f = only(fx);
    expect(f).toMatchObject({ code: 'KEY_OUTSIDE_VALIDITY', eventIds: [c.eventId] });
    expect(f.message).toContain('on CORRECTION');
  });
});

describe('MISSING_REQUIRED_EVIDENCE', () => {
  it('flags a delivery without evidence when the merchant requires it', () => {
    const fx = journey();
    Object.assign(ev(fx, 'delivered'), { evidenceHash: ZERO_HASH, flags: ['MISSING_REQUIRED_EVIDENCE'] });
    const f = only(fx);
    expect(f).toMatchObject({ code: 'MISSING_REQUIRED_EVIDENCE', severity: 'HIGH', eventIds: [id('delivered')] });
    expect(f.message).toContain('carries no evidence');
    expect(f.message).toContain('SP-DE-0042-7781');
  });

  it('is not raised when evidence is optional', () => {
    const fx = journey();
    ev(fx, 'delivered').evidenceHash = ZERO_HASH;
    fx.shipment.requireDeliveryEvidence = false;
    expect(run(fx)).toEqual([]);
  });
});

describe('CUSTODY_GAP', () => {
  const shiftLastMile = (fx: Fixture, hours: number): void => {
    for (const label of ['ofd', 'delivered']) move(ev(fx, label), ev(fx, label).occurredAt + BigInt(hours * HOUR));
  };

  it('flags three silent days at the hub', () => {
    const fx = journey();
    shiftLastMile(fx, 72);
    const f = only(fx);
    expect(f).toMatchObject({ code: 'CUSTODY_GAP', severity: 'MEDIUM', eventIds: [id('hub'), id('ofd')] });
    expect(f.message).toContain('no custody event for 3 d 21 h between ARRIVED_AT_FACILITY');
    expect(f.message).toContain('(limit 48 h)');
  });

  it('exactly custodyGapHours is no gap; a policy can widen it', () => {
    const fx = journey();
    const hub = ev(fx, 'hub').occurredAt;
    move(ev(fx, 'ofd'), hub + BigInt(48 * HOUR));
    move(ev(fx, 'delivered'), hub + BigInt(48 * HOUR + 2 * HOUR));
    expect(run(fx)).toEqual([]);
    move(ev(fx, 'ofd'), ev(fx, 'ofd').occurredAt + 1n);
    expect(codes(run(fx))).toEqual(['CUSTODY_GAP']);
    expect(run(fx, { custodyGapHours: 96 })).toEqual([]);
  });

  it('silence after the terminal event is no gap', () => {
    const fx = journey();
    add(fx, 'damage', 'EXCEPTION', '2025-03-12T09:00:00Z', { flags: ['AFTER_TERMINAL'], signer: KEY.carrierOps });
    expect(codes(run(fx))).toEqual(['EVENT_AFTER_TERMINAL']);
  });

  it('flags (LOW) an event the carrier declared while its last-mile partner held the parcel', () => {
    const fx = journey();
    add(fx, 'handoff', 'HANDOFF', '2025-03-05T06:50:00Z', {
      ...PLACES.hub,
      accuracyM: 15,
      custodian: 'kiezkurier',
      signer: KEY.partnerCourier,
      signerOrganization: 'kiezkurier',
      counterSigner: KEY.hubScanner,
      dualAttested: true,
    });
    add(fx, 'address-problem', 'EXCEPTION', '2025-03-05T07:10:00Z', { custodian: 'kiezkurier', signer: KEY.carrierOps, flags: ['CARRIER_DECLARED'] });
    for (const label of ['ofd', 'delivered']) Object.assign(ev(fx, label), { custodian: 'kiezkurier', signerOrganization: 'kiezkurier', signer: KEY.partnerCourier });
    renumber(fx);
    const f = only(fx);
    expect(f).toMatchObject({ code: 'CUSTODY_GAP', severity: 'LOW', eventIds: [id('address-problem')] });
    expect(f.message).toContain('declared by the carrier swiftpost while kiezkurier held the parcel');
  });
});

describe('LOW_GPS_ACCURACY_ON_DELIVERY', () => {
  it('flags a delivery located to ±150 m', () => {
    const fx = journey();
    ev(fx, 'delivered').accuracyM = 150;
    const f = only(fx);
    expect(f).toMatchObject({ code: 'LOW_GPS_ACCURACY_ON_DELIVERY', severity: 'MEDIUM', eventIds: [id('delivered')] });
    expect(f.message).toContain('located only to ±150 m');
    expect(f.message).toContain('threshold 100 m');
  });

  it('flags a delivery with no position', () => {
    const fx = journey();
    Object.assign(ev(fx, 'delivered'), PLACES.unknown);
    expect(only(fx).message).toContain('has no position at all');
  });

  it('limit: 100 m is fine, 101 m is not; policy can relax it', () => {
    const fx = journey();
    ev(fx, 'delivered').accuracyM = 100;
    expect(run(fx)).toEqual([]);
    ev(fx, 'delivered').accuracyM = 101;
    expect(codes(run(fx))).toEqual(['LOW_GPS_ACCURACY_ON_DELIVERY']);
    expect(run(fx, { lowAccuracyM: 200 })).toEqual([]);
  });
});

describe('HANDOFF_WITHOUT_COUNTER_SIGNATURE', () => {
  it('flags a pickup signed by the driver alone', () => {
    const fx = journey();
    Object.assign(ev(fx, 'pickup'), { counterSigner: null, dualAttested: false });
    const f = only(fx);
    expect(f).toMatchObject({ code: 'HANDOFF_WITHOUT_COUNTER_SIGNATURE', severity: 'MEDIUM', eventIds: [id('pickup')] });
    expect(f.message).toContain('PICKED_UP');
    expect(f.message).toContain('custody to swiftpost, was signed by swiftpost alone');
  });

  it('is not raised when the shipment does not require counter-signatures', () => {
    const fx = journey();
    Object.assign(ev(fx, 'pickup'), { counterSigner: null, dualAttested: false });
    fx.shipment.requireCounterSignedHandoffs = false;
    expect(run(fx)).toEqual([]);
  });
});

describe('detectShipmentIncidents', () => {
  const inTransit = (lastEventAt: Date, now: Date, promisedDeliveryAt: Date | null = null): ShipmentIncidentInput => ({
    shipment: { ...journey().shipment, status: 'IN_TRANSIT', deliveredAt: null, promisedDeliveryAt, lastEventAt },
    now,
  });

  it('STALE_SHIPMENT: in transit and silent for three days', () => {
    const findings = detectShipmentIncidents(inTransit(new Date('2025-03-04T09:45:00Z'), new Date('2025-03-07T10:00:00Z')));
    expect(findings).toHaveLength(1);
    expect(findings[0]).toMatchObject({ code: 'STALE_SHIPMENT', severity: 'MEDIUM', eventIds: [] });
    expect(findings[0].message).toContain('SP-DE-0042-7781 (swiftpost) has been IN_TRANSIT with no custody event for 3 d');
    expect(findings[0].message).toContain('last event at 2025-03-04T09:45:00Z');
  });

  it('STALE_SHIPMENT: exactly staleAfterHours is not stale; terminal statuses never are; policy widens it', () => {
    const last = new Date('2025-03-04T09:45:00Z');
    expect(detectShipmentIncidents(inTransit(last, new Date(last.getTime() + 48 * HOUR)))).toEqual([]);
    expect(codes(detectShipmentIncidents(inTransit(last, new Date(last.getTime() + 48 * HOUR + 1))))).toEqual(['STALE_SHIPMENT']);
    const delivered = inTransit(last, new Date('2025-03-20T00:00:00Z'));
    delivered.shipment.status = 'DELIVERED';
    delivered.shipment.deliveredAt = last;
    expect(detectShipmentIncidents(delivered)).toEqual([]);
    expect(detectShipmentIncidents({ ...inTransit(last, new Date('2025-03-07T10:00:00Z')), policy: { staleAfterHours: 100 } })).toEqual([]);
  });

  it('LATE_SHIPMENT: promised yesterday, still out for delivery (MEDIUM)', () => {
    const input = inTransit(new Date('2025-03-06T08:00:00Z'), new Date('2025-03-06T09:00:00Z'), new Date('2025-03-05T18:00:00Z'));
    input.shipment.status = 'OUT_FOR_DELIVERY';
    const findings = detectShipmentIncidents(input);
    expect(findings).toHaveLength(1);
    expect(findings[0]).toMatchObject({ code: 'LATE_SHIPMENT', severity: 'MEDIUM', eventIds: [] });
    expect(findings[0].message).toContain('promised for 2025-03-05T18:00:00Z and is still not delivered (status OUT_FOR_DELIVERY), 15 h late');
  });

  it('LATE_SHIPMENT: delivered after the promise is LOW, before it nothing', () => {
    const fx = journey();
    const late = { shipment: { ...fx.shipment, deliveredAt: new Date('2025-03-05T20:00:00Z'), lastEventAt: new Date('2025-03-05T20:00:00Z') }, now: new Date('2025-03-06T09:00:00Z') };
    const findings = detectShipmentIncidents(late);
    expect(findings).toHaveLength(1);
    expect(findings[0]).toMatchObject({ code: 'LATE_SHIPMENT', severity: 'LOW' });
    expect(findings[0].message).toContain('delivered at 2025-03-05T20:00:00Z, 2 h after the promised 2025-03-05T18:00:00Z');
    expect(detectShipmentIncidents({ ...late, shipment: { ...late.shipment, deliveredAt: fx.shipment.deliveredAt } })).toEqual([]);
  });

  it('reports both, MEDIUM each', () => {
    const findings = detectShipmentIncidents(inTransit(new Date('2025-03-04T09:45:00Z'), new Date('2025-03-08T00:00:00Z'), new Date('2025-03-05T18:00:00Z')));
    expect(codes(findings)).toEqual(['LATE_SHIPMENT', 'STALE_SHIPMENT']);
    expect(highestSeverity(findings)).toBe('MEDIUM');
  });
});

describe('ordering, severity and policy', () => {
  it('sorts HIGH first, then by the first event\'s place on the timeline', () => {
    const fx = journey();
    Object.assign(ev(fx, 'pickup'), { counterSigner: null, dualAttested: false }); // MEDIUM @ pickup
    const hub = ev(fx, 'hub');
    const ofd = ev(fx, 'ofd');
    [hub.arrival, ofd.arrival] = [ofd.arrival, hub.arrival]; // MEDIUM @ hub
    Object.assign(ev(fx, 'delivered'), { evidenceHash: ZERO_HASH, latE6: 52_542_300 }); // 2 × HIGH @ delivered
    fx.keys.get(KEY.pickupDriver)!.revokedAt = new Date('2025-03-01T00:00:00Z'); // HIGH @ pickup
    const findings = run(fx);
    expect(findings.map((f) => [f.severity, f.code])).toEqual([
      ['HIGH', 'KEY_OUTSIDE_VALIDITY'],
      ['HIGH', 'DELIVERY_OUTSIDE_GEOFENCE'],
      ['HIGH', 'MISSING_REQUIRED_EVIDENCE'],
      ['MEDIUM', 'HANDOFF_WITHOUT_COUNTER_SIGNATURE'],
      ['MEDIUM', 'TIME_WENT_BACKWARDS'],
    ]);
    expect(highestSeverity(findings)).toBe('HIGH');
    expect(run({ ...fx, events: [...fx.events].reverse() })).toEqual(findings);
  });

  it('highestSeverity of nothing is null', () => {
    expect(highestSeverity([])).toBeNull();
    expect(highestSeverity([{ code: 'CUSTODY_GAP', severity: 'LOW', message: '', eventIds: [] }])).toBe('LOW');
  });

  it('a partial policy keeps the other defaults', () => {
    const fx = journey();
    Object.assign(ev(fx, 'hub'), PLACES.hamburg, { occurredAt: ms('2025-03-04T09:40:00Z') });
    ev(fx, 'delivered').accuracyM = 150;
    expect(codes(run(fx, { maxSpeedKmh: 900 }))).toEqual(['LOW_GPS_ACCURACY_ON_DELIVERY']);
    expect(codes(run(fx, { lowAccuracyM: 500 }))).toEqual(['IMPOSSIBLE_SPEED']);
  });

  it('rejects a nonsensical policy', () => {
    expect(() => run(journey(), { maxSpeedKmh: -1 })).toThrow(RangeError);
    expect(() => run(journey(), { custodyGapHours: Number.NaN })).toThrow(/custodyGapHours/);
  });

  it('documents every code with its default severity', () => {
    expect(DEFAULT_POLICY).toEqual({ maxSpeedKmh: 200, lowAccuracyM: 100, custodyGapHours: 48, futureToleranceMs: 60_000, staleAfterHours: 48 });
    expect(Object.keys(FINDING_CODES).sort()).toEqual(
      [
        'CUSTODY_GAP',
        'DELIVERED_WITHOUT_OUT_FOR_DELIVERY',
        'DELIVERY_OUTSIDE_GEOFENCE',
        'DUPLICATE_DELIVERY',
        'EVENT_AFTER_TERMINAL',
        'HANDOFF_WITHOUT_COUNTER_SIGNATURE',
        'IMPOSSIBLE_SPEED',
        'KEY_OUTSIDE_VALIDITY',
        'LATE_SHIPMENT',
        'LOW_GPS_ACCURACY_ON_DELIVERY',
        'MISSING_REQUIRED_EVIDENCE',
        'SCAN_IN_FUTURE',
        'STALE_SHIPMENT',
        'TIME_WENT_BACKWARDS',
      ].sort(),
    );
    for (const entry of Object.values(FINDING_CODES)) {
      expect(['LOW', 'MEDIUM', 'HIGH']).toContain(entry.severity);
      expect(entry.description.length).toBeGreaterThan(20);
    }
  });
});
