/**
 * Prometheus metrics (prom-client), on a registry of our own so that several
 * servers in one process (tests) never collide.
 */
import client from 'prom-client';

export interface WorkerUsageSample {
  pid: number;
  /** CPU time in user mode, milliseconds. */
  userCpuMs: number;
  /** CPU time in kernel mode, milliseconds. */
  systemCpuMs: number;
  /**
   * Maximum resident set size, kilobytes (getrusage). On Linux this includes
   * the parent's memory copied at fork time, so it overstates the worker.
   */
  maxRssKb: number;
  /** Current resident set size in bytes (/proc), null where unavailable. */
  rssBytes: number | null;
}

export interface WorkerUsageSource {
  sampleUsage(): Promise<WorkerUsageSample[]>;
  liveWorkerCount(): number;
}

export class Metrics {
  readonly registry = new client.Registry();
  readonly httpRequests: client.Histogram<'method' | 'route' | 'status'>;
  readonly socketConnections: client.Gauge;
  readonly workerDeaths: client.Counter;
  readonly auditFailures: client.Counter;

  constructor() {
    client.collectDefaultMetrics({ register: this.registry, prefix: 'huizhen_process_' });

    this.httpRequests = new client.Histogram({
      name: 'huizhen_http_request_duration_seconds',
      help: 'HTTP request duration by route and status.',
      labelNames: ['method', 'route', 'status'],
      buckets: [0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10],
      registers: [this.registry],
    });
    this.socketConnections = new client.Gauge({
      name: 'huizhen_socket_connections',
      help: 'Open signaling (socket.io) connections.',
      registers: [this.registry],
    });
    this.workerDeaths = new client.Counter({
      name: 'huizhen_mediasoup_worker_deaths_total',
      help: 'mediasoup worker processes that died unexpectedly.',
      registers: [this.registry],
    });
    this.auditFailures = new client.Counter({
      name: 'huizhen_audit_append_failures_total',
      help: 'Audit entries that could not be stored (each is also in the error log).',
      registers: [this.registry],
    });
  }

  /** Recording uploads waiting in the spool, and how far behind they are. */
  registerUploadSource(source: { pending: number; lost: number; uploadLagSeconds(): number }): void {
    new client.Gauge({
      name: 'huizhen_recording_upload_lag_seconds',
      help: 'Age of the oldest sealed recording segment still waiting for upload (0 when none).',
      registers: [this.registry],
      collect() {
        this.set(source.uploadLagSeconds());
      },
    });
    new client.Gauge({
      name: 'huizhen_recording_uploads_pending',
      help: 'Sealed recording objects spooled locally and waiting for upload.',
      registers: [this.registry],
      collect() {
        this.set(source.pending);
      },
    });
    new client.Gauge({
      name: 'huizhen_recording_uploads_lost',
      help: 'Sealed recording objects that could not be uploaded because their spool file disappeared since the start (alert on > 0).',
      registers: [this.registry],
      collect() {
        this.set(source.lost);
      },
    });
  }

  /**
   * The supervision outbox by status, counted in the database at scrape time
   * (all processes' events): alert on `dead` > 0, and on `pending` growing.
   */
  registerOutboxSource(source: { counts(): Promise<Record<'pending' | 'delivered' | 'dead', number>> }): void {
    new client.Gauge({
      name: 'huizhen_supervision_outbox_events',
      help: 'Supervision-platform events in the outbox, by status (pending: not yet delivered; dead: dead-lettered after the last attempt, needs an operator; delivered).',
      labelNames: ['status'],
      registers: [this.registry],
      async collect() {
        const counts = await source.counts();
        for (const status of ['pending', 'dead', 'delivered'] as const) this.set({ status }, counts[status]);
      },
    });
  }

  /**
   * Exposes per-worker CPU and memory, sampled from
   * `worker.getResourceUsage()` at scrape time.
   */
  registerWorkerSource(source: WorkerUsageSource): void {
    // Both gauges are filled from one sample per scrape.
    let pending: { at: number; samples: Promise<WorkerUsageSample[]> } | undefined;
    const sample = (): Promise<WorkerUsageSample[]> => {
      const now = Date.now();
      if (!pending || now - pending.at > 1000) pending = { at: now, samples: source.sampleUsage() };
      return pending.samples;
    };
    new client.Gauge({
      name: 'huizhen_mediasoup_worker_cpu_seconds_total',
      help: 'CPU time used by each mediasoup worker process (getrusage), by mode.',
      labelNames: ['pid', 'mode'],
      registers: [this.registry],
      async collect() {
        this.reset();
        for (const s of await sample()) {
          this.set({ pid: String(s.pid), mode: 'user' }, s.userCpuMs / 1000);
          this.set({ pid: String(s.pid), mode: 'system' }, s.systemCpuMs / 1000);
        }
      },
    });
    new client.Gauge({
      name: 'huizhen_mediasoup_worker_max_rss_bytes',
      help: 'Peak resident memory of each mediasoup worker (getrusage ru_maxrss; on Linux includes memory inherited at fork).',
      labelNames: ['pid'],
      registers: [this.registry],
      async collect() {
        this.reset();
        for (const s of await sample()) {
          this.set({ pid: String(s.pid) }, s.maxRssKb * 1024);
        }
      },
    });
    new client.Gauge({
      name: 'huizhen_mediasoup_worker_rss_bytes',
      help: 'Current resident memory of each mediasoup worker process.',
      labelNames: ['pid'],
      registers: [this.registry],
      async collect() {
        this.reset();
        for (const s of await sample()) {
          if (s.rssBytes !== null) this.set({ pid: String(s.pid) }, s.rssBytes);
        }
      },
    });
    new client.Gauge({
      name: 'huizhen_mediasoup_workers',
      help: 'Live mediasoup worker processes.',
      registers: [this.registry],
      collect() {
        this.set(source.liveWorkerCount());
      },
    });
  }
}
