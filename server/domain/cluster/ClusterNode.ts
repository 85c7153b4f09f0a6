/**
 * This node's membership of a Huizhen cluster (scale-out on Redis).
 *
 * - Placement: a room lives on exactly one node, the holder of its lease.
 *   A join for a room nobody hosts places it on the least-loaded healthy
 *   node (placementPolicy); a join that reached another node is told where
 *   the room is (the client goes there: signaling and media of a room share
 *   one node, so losing that node is one failure, seen by the client as its
 *   connection dropping).
 * - Leases: renewed every leaseMs/3 for every room this node hosts. A node
 *   that dies stops renewing; within leaseMs its rooms are free and open on
 *   another node when their participants come back.
 * - Fencing: a renewal that finds the lease held by another node (only
 *   possible after Redis lost its data) closes this node's copy of the room
 *   (`room_moved`), so no room is ever hosted twice for longer than a tick.
 * - Redis restarted: each node takes its leases again, republishes its
 *   admissions and reports itself at once; the registry is rebuilt from what
 *   the nodes host. While Redis is away, rooms already open go on; rooms
 *   that would need a placement wait (SERVICE_UNAVAILABLE, the client retries).
 * - Load reports every leaseMs/3 (workers, rooms, participants, consumers,
 *   worker CPU), expiring after leaseMs.
 *
 * It is also the rooms' admission ledger: who was admitted, with the hash of
 * their current resume token, so that a participant of a lost node re-enters
 * on the new one without the lobby.
 */
import crypto from 'node:crypto';
import type { Logger } from 'pino';
import { RoomRelocatingError, ServiceUnavailableError } from '../../errors.ts';
import type { LiveRole } from '../../protocol/roles.ts';
import type { RedisConnection } from '../../storage/redis/RedisConnection.ts';
import type { ClusterStore, NodeReport } from '../../storage/redis/ClusterStore.ts';
import type { AdmissionLedger, AdmissionRecord } from '../rooms/AdmissionLedger.ts';
import type { Room } from '../rooms/Room.ts';
import type { NodeAddress, Placement, RoomPlacement } from '../rooms/RoomPlacement.ts';
import { chooseNode, type CandidateNode } from './placementPolicy.ts';

/** Admissions outlive a node by this much at most (a visit's length). */
const ADMISSION_TTL_MS = 12 * 3600 * 1000;

export interface WorkerSample {
  workers: number;
  /** Cumulative CPU time of all media workers, in milliseconds. */
  cpuMs: number;
}

export interface ClusterNodeDeps {
  nodeId: string;
  leaseMs: number;
  store: ClusterStore;
  redis: Pick<RedisConnection, 'ready' | 'events'>;
  /** Media workers now (for load reports). */
  sampleWorkers: () => Promise<WorkerSample>;
  log: Logger;
  /** Extra work on every tick while Redis answers (the recording janitor). */
  onTick?: () => Promise<void>;
}

/** What the cluster node needs of the room registry (bound after both exist). */
export interface HostedRooms {
  open(): Room[];
  evict(roomId: string): void;
}

export class ClusterNode implements RoomPlacement, AdmissionLedger {
  readonly nodeId: string;
  readonly #deps: ClusterNodeDeps;
  readonly #log: Logger;
  readonly #startedAt = Date.now();
  /** Rooms whose lease this node holds (including rooms still opening). */
  readonly #held = new Set<string>();
  #rooms: HostedRooms | null = null;
  /** Where clients reach this node (https base URL), known once it listens. */
  #url = '';
  #timer: NodeJS.Timeout | null = null;
  #ticking: Promise<void> | null = null;
  #draining = false;
  #closed = false;
  #lastCpu: { at: number; cpuMs: number } | null = null;
  #workerCpu = 0;
  #tickFailing = false;
  /** Ledger removals that failed (Redis away): done on the rebuild, so nobody stale can be restored. */
  readonly #failedDrops = new Set<string>();

  constructor(deps: ClusterNodeDeps) {
    this.nodeId = deps.nodeId;
    this.#deps = deps;
    this.#log = deps.log.child({ component: 'cluster', nodeId: deps.nodeId });
    deps.redis.events.on('up', () => void this.#rebuild());
  }

  get #intervalMs(): number {
    return Math.max(500, Math.floor(this.#deps.leaseMs / 3));
  }

  /** A report lives two intervals: a node that missed two is gone. */
  get #reportTtlMs(): number {
    return 2 * this.#intervalMs;
  }

  /** Binds the registry, reports this node (reachable at `url`) and starts renewing. */
  async start(rooms: HostedRooms, url: string): Promise<void> {
    this.#rooms = rooms;
    this.#url = url;
    await this.#tick();
    this.#timer = setInterval(() => void this.#tick(), this.#intervalMs);
    this.#timer.unref();
    this.#log.info({ url, leaseMs: this.#deps.leaseMs }, 'cluster node started');
  }

  /** Shutdown begins: take no new rooms, and say so (a fresh report, not one already under way). */
  async drain(): Promise<void> {
    this.#draining = true;
    await this.#ticking;
    await this.#tick();
  }

  /** Stops renewing and removes this node's report. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#timer) clearInterval(this.#timer);
    await this.#ticking;
    // Whatever is still held (a room that could not close) is released.
    await Promise.allSettled([...this.#held].map((id) => this.#deps.store.release(id, this.nodeId)));
    this.#held.clear();
    await this.#deps.store.removeReport(this.nodeId).catch(() => undefined);
  }

  // --- RoomPlacement ---------------------------------------------------------------

  async claim(roomId: string): Promise<Placement> {
    if (this.#draining || this.#closed) throw new RoomRelocatingError('this server is shutting down; the room opens on another one');
    if (!this.#deps.redis.ready) throw new ServiceUnavailableError('the cluster registry is unreachable; try again in a moment');
    const { store, leaseMs } = this.#deps;
    try {
      // At most a few rounds: each one either settles or sees another node win a race.
      for (let round = 0; round < 3; round++) {
        const lease = await store.lease(roomId);
        if (lease && lease.nodeId !== this.nodeId) return { kind: 'elsewhere', node: await this.#addressOf(lease.nodeId) };
        if (!lease) {
          const target = await this.#choose();
          if (target.nodeId !== this.nodeId) {
            const placed = await store.place(roomId, target.nodeId, leaseMs);
            if (placed.nodeId !== this.nodeId) {
              this.#log.info({ roomId, node: placed.nodeId }, 'room placed on another node');
              return { kind: 'elsewhere', node: await this.#addressOf(placed.nodeId) };
            }
          }
        }
        // Free, placed here, or already ours: take it.
        const taken = await store.acquire(roomId, this.nodeId, leaseMs);
        if (taken.acquired) {
          this.#held.add(roomId);
          // Counted until the next report, like rooms placed here by others.
          if (!lease) await store.countPlacement(this.nodeId, this.#reportTtlMs).catch(() => undefined);
          this.#log.info({ roomId }, 'hosting room');
          return { kind: 'here' };
        }
      }
    } catch (err) {
      if (err instanceof RoomRelocatingError) throw err;
      throw new ServiceUnavailableError('the cluster registry is unreachable; try again in a moment', { cause: err });
    }
    throw new RoomRelocatingError();
  }

  release(roomId: string): void {
    if (!this.#held.delete(roomId)) return;
    this.#deps.store.release(roomId, this.nodeId).catch((err: unknown) => {
      // The lease lapses by itself.
      this.#log.warn({ roomId, err: { message: (err as Error).message } }, 'could not release a room lease');
    });
  }

  /** Whether a node reports itself now (its report expires in Redis after two intervals). */
  async nodeAlive(nodeId: string): Promise<boolean> {
    return (await this.#deps.store.reports()).some((r) => r.nodeId === nodeId);
  }

  /** Whether some node holds the room's lease now. */
  async roomHosted(roomId: string): Promise<boolean> {
    return (await this.#deps.store.lease(roomId)) !== null;
  }

  /** Whether this node holds the room's lease (diagnostics, tests). */
  holds(roomId: string): boolean {
    return this.#held.has(roomId);
  }

  // --- AdmissionLedger ----------------------------------------------------------

  admitted(roomId: string, record: AdmissionRecord): void {
    this.#deps.store
      .saveAdmission(roomId, { peerId: record.peerId, userId: record.userId, role: record.role, tokenHash: hashToken(record.resumeToken) }, ADMISSION_TTL_MS)
      .catch((err: unknown) => this.#log.warn({ roomId, peerId: record.peerId, err: { message: (err as Error).message } }, 'admission not recorded in the cluster store'));
  }

  departed(roomId: string, peerId: string): void {
    this.#deps.store.dropAdmission(roomId, peerId).catch((err: unknown) => {
      this.#failedDrops.add(roomId);
      this.#log.warn({ roomId, peerId, err: { message: (err as Error).message } }, 'admission not removed from the cluster store; it is when the store is back');
    });
  }

  closed(roomId: string): void {
    this.#deps.store.dropAdmissions(roomId).catch((err: unknown) => {
      this.#failedDrops.add(roomId);
      this.#log.warn({ roomId, err: { message: (err as Error).message } }, 'admissions not removed from the cluster store; they are when the store is back');
    });
  }

  async verify(roomId: string, peerId: string, userId: string, role: LiveRole, resumeToken: string): Promise<boolean> {
    let stored;
    try {
      stored = await this.#deps.store.admission(roomId, peerId);
    } catch (err) {
      // Not a refusal: the participant tries again once the store answers.
      throw new ServiceUnavailableError('the cluster registry is unreachable; try again in a moment', { cause: err });
    }
    if (!stored || stored.userId !== userId || stored.role !== role) return false;
    const given = Buffer.from(hashToken(resumeToken), 'hex');
    const expected = Buffer.from(stored.tokenHash, 'hex');
    return given.length === expected.length && crypto.timingSafeEqual(given, expected);
  }

  // --- Internals ------------------------------------------------------------------

  /** The node for a new room: the least loaded of the fresh reports, this node counted as it is now. */
  async #choose(): Promise<CandidateNode> {
    const reports = await this.#deps.store.reports();
    const fresh = reports.filter((r) => r.nodeId !== this.nodeId);
    // This node as it is now, with the rooms it took since its last report.
    const own = reports.find((r) => r.nodeId === this.nodeId)?.placedSince ?? 0;
    const self: CandidateNode = { ...(await this.#report({ sampleCpu: false })), placedSince: own };
    return chooseNode([self, ...fresh]) ?? self;
  }

  async #addressOf(nodeId: string): Promise<NodeAddress> {
    const report = (await this.#deps.store.reports()).find((r) => r.nodeId === nodeId);
    // Its node stopped reporting: it is gone, and its lease lapses soon.
    if (!report) throw new RoomRelocatingError();
    return { nodeId, url: report.url };
  }


  /** This node's report; `sampleCpu` on ticks only, so that CPU is measured over whole intervals. */
  async #report(options: { sampleCpu: boolean } = { sampleCpu: true }): Promise<NodeReport> {
    const rooms = this.#rooms?.open() ?? [];
    const sample = await this.#deps.sampleWorkers();
    const now = Date.now();
    if (options.sampleCpu) {
      if (this.#lastCpu && now > this.#lastCpu.at) {
        this.#workerCpu = Math.max(0, (sample.cpuMs - this.#lastCpu.cpuMs) / (now - this.#lastCpu.at) / Math.max(1, sample.workers));
      }
      this.#lastCpu = { at: now, cpuMs: sample.cpuMs };
    }
    return {
      nodeId: this.nodeId,
      url: this.#url,
      workers: sample.workers,
      rooms: rooms.length,
      participants: rooms.reduce((n, r) => n + r.members().length, 0),
      consumers: rooms.reduce((n, r) => n + r.consumerCount, 0),
      workerCpu: Math.round(this.#workerCpu * 1000) / 1000,
      draining: this.#draining,
      startedAt: this.#startedAt,
      reportedAt: now,
    };
  }

  /** One tick at a time; a tick asked for while one runs waits for it. */
  #tick(): Promise<void> {
    this.#ticking ??= this.#runTick().finally(() => {
      this.#ticking = null;
    });
    return this.#ticking;
  }

  async #runTick(): Promise<void> {
    if (this.#closed || !this.#rooms) return;
    const { store, leaseMs } = this.#deps;
    try {
      const held = [...this.#held];
      const results = await store.renew(held, this.nodeId, leaseMs);
      for (const [roomId, result] of results) {
        if (result === 'renewed') continue;
        if (result === 'reclaimed') {
          this.#log.warn({ roomId }, 'room lease was missing (cluster store restarted); taken again');
          this.#republish(roomId);
          continue;
        }
        // Another node holds it: never two copies of a room.
        this.#log.error({ roomId, holder: result.lostTo.nodeId }, 'another node holds this room; closing the copy here');
        this.#held.delete(roomId);
        this.#rooms.evict(roomId);
      }
      await store.report(await this.#report(), this.#reportTtlMs);
      if (this.#tickFailing) this.#log.info('cluster leases and report renewed again');
      this.#tickFailing = false;
      await this.#deps.onTick?.();
    } catch (err) {
      if (!this.#tickFailing) this.#log.error({ err: { message: (err as Error).message } }, 'could not renew leases or report; hosted rooms go on');
      this.#tickFailing = true;
    }
  }

  /** Redis is back, possibly empty: leases, admissions and the report, at once. */
  async #rebuild(): Promise<void> {
    if (this.#closed || !this.#rooms) return;
    await this.#ticking;
    await this.#tick();
    const open = new Set(this.#rooms.open().map((r) => r.id));
    // Removals it missed: rooms that closed meanwhile lose their admissions.
    for (const roomId of [...this.#failedDrops]) {
      if (open.has(roomId)) continue;
      await this.#deps.store.dropAdmissions(roomId).then(() => this.#failedDrops.delete(roomId), () => undefined);
    }
    for (const roomId of open) this.#republish(roomId);
    this.#log.info({ rooms: this.#held.size }, 'cluster registry rebuilt from the rooms this node hosts');
  }

  /** A room's admissions exactly as they are (whoever left while the store was away is gone from it). */
  #republish(roomId: string): void {
    const room = this.#rooms?.open().find((r) => r.id === roomId);
    if (!room) return;
    const records = room.admissionRecords().map((r) => ({ peerId: r.peerId, userId: r.userId, role: r.role, tokenHash: hashToken(r.resumeToken) }));
    this.#deps.store
      .replaceAdmissions(roomId, records, ADMISSION_TTL_MS)
      .then(() => this.#failedDrops.delete(roomId))
      .catch((err: unknown) => this.#log.warn({ roomId, err: { message: (err as Error).message } }, 'admissions not republished'));
  }
}

function hashToken(token: string): string {
  return crypto.createHash('sha256').update(token).digest('hex');
}
