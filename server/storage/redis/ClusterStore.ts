/**
 * What the nodes of a cluster share on Redis — all of it rebuildable from
 * what the nodes host:
 *
 * - room leases, `huizhen:room:<roomId>` = `<nodeId>|hosted` (the node hosts
 *   the room and renews the lease) or `<nodeId>|placed` (another node chose
 *   that node for a new room; it becomes `hosted` when the first client
 *   arrives there, or lapses). Every lease expires unless renewed.
 * - load reports, `huizhen:node:<nodeId>` (JSON, expiring after two report
 *   intervals: a node whose report key exists is alive — decided by Redis's
 *   own clock, not by comparing the nodes' clocks), listed in the set
 *   `huizhen:nodes`;
 * - placements since a node's last report, `huizhen:placed:<nodeId>`, so a
 *   burst of new rooms does not all go to the node that looked idlest;
 * - admissions, `huizhen:admissions:<roomId>` (hash peerId → JSON): who was
 *   admitted to a room, with the SHA-256 of their current resume token, so
 *   that after their node is lost they re-enter on the new node without
 *   the lobby — and nobody else can.
 *
 * Lease changes are compare-and-set Lua scripts, so two nodes never both
 * believe they host a room.
 */
import type { Redis } from 'ioredis';

export interface RoomLease {
  nodeId: string;
  kind: 'hosted' | 'placed';
}

/** A node's periodic report of itself. */
export interface NodeReport {
  nodeId: string;
  /** Where clients reach this node (https). */
  url: string;
  workers: number;
  rooms: number;
  participants: number;
  consumers: number;
  /** Mean CPU share of its media workers over the last interval, 0–1. */
  workerCpu: number;
  /** Shutting down: takes no new rooms. */
  draining: boolean;
  startedAt: number;
  reportedAt: number;
}

export interface StoredAdmission {
  peerId: string;
  userId: string;
  role: string;
  /** SHA-256 (hex) of the participant's current resume token. */
  tokenHash: string;
}

export type RenewResult = 'renewed' | 'reclaimed' | { lostTo: RoomLease };

const ACQUIRE = `
local v = redis.call('GET', KEYS[1])
if (not v) or v == ARGV[1] .. '|placed' or v == ARGV[1] .. '|hosted' then
  redis.call('SET', KEYS[1], ARGV[1] .. '|hosted', 'PX', ARGV[2])
  return 'ok'
end
return v`;

const RENEW = `
local v = redis.call('GET', KEYS[1])
if v == ARGV[1] .. '|hosted' then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 'renewed'
end
if (not v) or v == ARGV[1] .. '|placed' then
  redis.call('SET', KEYS[1], ARGV[1] .. '|hosted', 'PX', ARGV[2])
  return 'reclaimed'
end
return v`;

const RELEASE = `
if redis.call('GET', KEYS[1]) == ARGV[1] .. '|hosted' then
  return redis.call('DEL', KEYS[1])
end
return 0`;

const PLACE = `
local v = redis.call('GET', KEYS[1])
if not v then
  redis.call('SET', KEYS[1], ARGV[1] .. '|placed', 'PX', ARGV[2])
  redis.call('INCR', KEYS[2])
  redis.call('PEXPIRE', KEYS[2], ARGV[2])
  return ARGV[1] .. '|placed'
end
return v`;

type ScriptRunner = (keys: string[], args: Array<string | number>) => Promise<unknown>;

function parseLease(value: string): RoomLease {
  const bar = value.lastIndexOf('|');
  const kind = value.slice(bar + 1);
  return { nodeId: value.slice(0, bar), kind: kind === 'placed' ? 'placed' : 'hosted' };
}

export class ClusterStore {
  readonly #redis: Redis;
  readonly #prefix: string;
  readonly #scripts: Record<'acquire' | 'renew' | 'release' | 'place', ScriptRunner>;

  constructor(redis: Redis, prefix = 'huizhen:') {
    this.#redis = redis;
    this.#prefix = prefix;
    const define = (name: string, lua: string): ScriptRunner => {
      redis.defineCommand(name, { lua });
      const command = (redis as unknown as Record<string, (n: number, ...a: Array<string | number>) => Promise<unknown>>)[name]!.bind(redis);
      return (keys, args) => command(keys.length, ...keys, ...args);
    };
    this.#scripts = {
      acquire: define('huizhenAcquireLease', ACQUIRE),
      renew: define('huizhenRenewLease', RENEW),
      release: define('huizhenReleaseLease', RELEASE),
      place: define('huizhenPlaceRoom', PLACE),
    };
  }

  #room(roomId: string): string {
    return `${this.#prefix}room:${roomId}`;
  }

  #node(nodeId: string): string {
    return `${this.#prefix}node:${nodeId}`;
  }

  #placed(nodeId: string): string {
    return `${this.#prefix}placed:${nodeId}`;
  }

  #admissions(roomId: string): string {
    return `${this.#prefix}admissions:${roomId}`;
  }

  // --- Room leases -------------------------------------------------------------

  async lease(roomId: string): Promise<RoomLease | null> {
    const v = await this.#redis.get(this.#room(roomId));
    return v ? parseLease(v) : null;
  }

  /** Takes the room for `nodeId` (free, or placed on it); otherwise answers who has it. */
  async acquire(roomId: string, nodeId: string, ttlMs: number): Promise<{ acquired: true } | { acquired: false; holder: RoomLease }> {
    const r = String(await this.#scripts.acquire([this.#room(roomId)], [nodeId, ttlMs]));
    return r === 'ok' ? { acquired: true } : { acquired: false, holder: parseLease(r) };
  }

  /** Renews this node's leases in one round trip; a lease found missing (Redis restarted) is taken again. */
  async renew(roomIds: readonly string[], nodeId: string, ttlMs: number): Promise<Map<string, RenewResult>> {
    const results = new Map<string, RenewResult>();
    const answers = await Promise.all(roomIds.map((id) => this.#scripts.renew([this.#room(id)], [nodeId, ttlMs])));
    roomIds.forEach((id, i) => {
      const r = String(answers[i]);
      results.set(id, r === 'renewed' || r === 'reclaimed' ? r : { lostTo: parseLease(r) });
    });
    return results;
  }

  async release(roomId: string, nodeId: string): Promise<void> {
    await this.#scripts.release([this.#room(roomId)], [nodeId]);
  }

  /** Places a free room on `target`; answers the lease in force (the new one, or whoever was first). */
  async place(roomId: string, target: string, ttlMs: number): Promise<RoomLease> {
    return parseLease(String(await this.#scripts.place([this.#room(roomId), this.#placed(target)], [target, ttlMs])));
  }

  // --- Load reports ---------------------------------------------------------------

  async report(report: NodeReport, ttlMs: number): Promise<void> {
    await this.#redis
      .multi()
      .set(this.#node(report.nodeId), JSON.stringify(report), 'PX', ttlMs)
      .sadd(`${this.#prefix}nodes`, report.nodeId)
      // The report now counts the rooms placed here since the last one.
      .del(this.#placed(report.nodeId))
      .exec();
  }

  /** The reports that have not expired, with the rooms placed on each since it reported. */
  async reports(): Promise<Array<NodeReport & { placedSince: number }>> {
    const ids = await this.#redis.smembers(`${this.#prefix}nodes`);
    if (ids.length === 0) return [];
    const values = await this.#redis.mget(...ids.flatMap((id) => [this.#node(id), this.#placed(id)]));
    const result: Array<NodeReport & { placedSince: number }> = [];
    const gone: string[] = [];
    ids.forEach((id, i) => {
      const report = values[2 * i];
      if (!report) {
        gone.push(id);
        return;
      }
      result.push({ ...(JSON.parse(report) as NodeReport), placedSince: Number(values[2 * i + 1] ?? 0) });
    });
    if (gone.length > 0) await this.#redis.srem(`${this.#prefix}nodes`, ...gone);
    return result;
  }

  async removeReport(nodeId: string): Promise<void> {
    await this.#redis.multi().del(this.#node(nodeId)).srem(`${this.#prefix}nodes`, nodeId).exec();
  }

  // --- Admissions --------------------------------------------------------------------

  async saveAdmission(roomId: string, admission: StoredAdmission, ttlMs: number): Promise<void> {
    await this.#redis
      .multi()
      .hset(this.#admissions(roomId), admission.peerId, JSON.stringify(admission))
      .pexpire(this.#admissions(roomId), ttlMs)
      .exec();
  }

  async dropAdmission(roomId: string, peerId: string): Promise<void> {
    await this.#redis.hdel(this.#admissions(roomId), peerId);
  }

  async dropAdmissions(roomId: string): Promise<void> {
    await this.#redis.del(this.#admissions(roomId));
  }

  /** Replaces a room's admissions with exactly these (after Redis was away: what it missed is gone). */
  async replaceAdmissions(roomId: string, admissions: StoredAdmission[], ttlMs: number): Promise<void> {
    const tx = this.#redis.multi().del(this.#admissions(roomId));
    for (const a of admissions) tx.hset(this.#admissions(roomId), a.peerId, JSON.stringify(a));
    if (admissions.length > 0) tx.pexpire(this.#admissions(roomId), ttlMs);
    await tx.exec();
  }

  /** Counts a room this node took for itself towards its load until its next report. */
  async countPlacement(nodeId: string, ttlMs: number): Promise<void> {
    await this.#redis.multi().incr(this.#placed(nodeId)).pexpire(this.#placed(nodeId), ttlMs).exec();
  }

  async admission(roomId: string, peerId: string): Promise<StoredAdmission | null> {
    const v = await this.#redis.hget(this.#admissions(roomId), peerId);
    return v ? (JSON.parse(v) as StoredAdmission) : null;
  }
}
