/**
 * Scale-out (migration 0008): which node runs a recording, the series a
 * recording is made of when it moved between nodes, and the segments that
 * were lost with a node. Claims are compare-and-set on `node_id`, so one
 * recording is never taken over by two nodes.
 */
import type { Database } from '../db/Database.ts';
import { segmentFrom, type StoredSegment } from './RecordingRepository.ts';

export interface SeriesRow {
  series: number;
  nodeId: string;
  startedAt: Date;
  endedAt: Date | null;
  endReason: 'node_lost' | 'handed_over' | null;
}

export interface LostSegmentRow {
  seq: number;
  trackId: string;
  index: number;
  reason: 'node_lost';
}

/** A recording still running somewhere, with the node that runs it (null: none). */
export interface RunningRecording {
  recordingId: string;
  roomId: string;
  nodeId: string | null;
  startedAt: Date;
  /** When it was last heard of: its last sealed segment, else its start. */
  lastActivity: Date;
}

type Row = Record<string, unknown>;
const date = (v: unknown) => new Date(v as string | Date);

export class RecordingSeriesRepository {
  readonly #db: Database;

  constructor(db: Database) {
    this.#db = db;
  }

  /** Records that `nodeId` runs the recording from its start (series 1). */
  async begin(recordingId: string, nodeId: string, startedAt: Date): Promise<void> {
    await this.#db.transaction(async (tx) => {
      await tx.query('UPDATE recordings SET node_id = $2 WHERE recording_id = $1', [recordingId, nodeId]);
      await tx.query('INSERT INTO recording_series (recording_id, series, node_id, started_at) VALUES ($1, 1, $2, $3)', [recordingId, nodeId, startedAt]);
    });
  }

  /** Running recordings not run by `nodeId` (its own included with `includeOwn`). */
  async running(filter: { roomId?: string; notNode?: string }): Promise<RunningRecording[]> {
    const r = await this.#db.query(
      `SELECT r.recording_id, r.room_id, r.node_id, r.started_at,
              COALESCE((SELECT max(sealed_at) FROM recording_segments s WHERE s.recording_id = r.recording_id), r.started_at) AS last_activity
         FROM recordings r
        WHERE r.status = 'recording'
          AND ($1::text IS NULL OR r.room_id = $1)
          AND ($2::text IS NULL OR r.node_id IS DISTINCT FROM $2)
        ORDER BY r.started_at`,
      [filter.roomId ?? null, filter.notNode ?? null],
    );
    return r.rows.map((row) => {
      const x = row as Row;
      return {
        recordingId: x['recording_id'] as string,
        roomId: x['room_id'] as string,
        nodeId: (x['node_id'] as string | null) ?? null,
        startedAt: date(x['started_at']),
        lastActivity: date(x['last_activity']),
      };
    });
  }

  /** Running recordings of this node (a restart after a crash finds its own). */
  async runningOn(nodeId: string): Promise<string[]> {
    const r = await this.#db.query<{ recording_id: string }>(`SELECT recording_id FROM recordings WHERE status = 'recording' AND node_id = $1`, [nodeId]);
    return r.rows.map((x) => x.recording_id);
  }

  /** A node that restarted after a crash lets go of the recordings it ran: any node may take them on. */
  async release(recordingId: string, nodeId: string): Promise<void> {
    await this.#db.query(`UPDATE recordings SET node_id = NULL WHERE recording_id = $1 AND node_id = $2 AND status = 'recording'`, [recordingId, nodeId]);
  }

  /** A node that shuts down passes a running recording on: its series ends now, and no node runs it until one takes it over. */
  /** Returns false when this node no longer ran it (another node took it over first). */
  async handOver(recordingId: string, nodeId: string): Promise<boolean> {
    return this.#db.transaction(async (tx) => {
      const r = await tx.query(`UPDATE recordings SET node_id = NULL WHERE recording_id = $1 AND node_id = $2 AND status = 'recording'`, [recordingId, nodeId]);
      if (r.rowCount === 0) return false;
      await tx.query(
        `UPDATE recording_series SET ended_at = now(), end_reason = 'handed_over' WHERE recording_id = $1 AND node_id = $2 AND ended_at IS NULL`,
        [recordingId, nodeId],
      );
      return true;
    });
  }

  /** Recordings this node began finalising (before a crash). */
  async finalizingOn(nodeId: string): Promise<string[]> {
    const r = await this.#db.query<{ recording_id: string }>(`SELECT recording_id FROM recordings WHERE status = 'finalizing' AND node_id = $1`, [nodeId]);
    return r.rows.map((x) => x.recording_id);
  }

  /** Takes a running recording of a lost node to finalise it (no new series). Returns whether this node got it. */
  async claimForFinal(recordingId: string, fromNode: string | null, toNode: string): Promise<boolean> {
    return (await this.takeOver(recordingId, fromNode, toNode, { newSeries: false })) !== null;
  }

  /**
   * Takes a running recording from `fromNode` (null: nobody) for `toNode`:
   * the open series ends as lost at its last sealed segment, and tracks left
   * open end there too; a new series starts on `toNode`. Returns the new
   * series number (0 without a new series), or null when another node took
   * it first or it is no longer running.
   */
  async takeOver(recordingId: string, fromNode: string | null, toNode: string, options: { newSeries: boolean } = { newSeries: true }): Promise<number | null> {
    return this.#db.transaction(async (tx) => {
      const claimed = await tx.query(
        `UPDATE recordings SET node_id = $3 WHERE recording_id = $1 AND status = 'recording' AND node_id IS NOT DISTINCT FROM $2 RETURNING started_at`,
        [recordingId, fromNode, toNode],
      );
      if (claimed.rowCount === 0) return null;
      const startedAt = date((claimed.rows[0] as Row)['started_at']);
      const last = await tx.query<{ series: number }>('SELECT COALESCE(max(series), 0) AS series FROM recording_series WHERE recording_id = $1', [recordingId]);
      let previous = Number(last.rows[0]?.series ?? 0);
      if (previous === 0) {
        // Begun before the cluster knew of it (a single-node start): its first stretch is series 1, node unknown.
        await tx.query(`INSERT INTO recording_series (recording_id, series, node_id, started_at) VALUES ($1, 1, 'unknown', $2)`, [recordingId, startedAt]);
        previous = 1;
      }
      // The lost node's tracks end where their last sealed segment ended.
      await tx.query(
        `UPDATE recording_tracks t SET end_offset_ms = GREATEST(t.start_offset_ms, COALESCE(
            (SELECT (EXTRACT(EPOCH FROM max(s.sealed_at)) * 1000)::bigint FROM recording_segments s WHERE s.recording_id = t.recording_id AND s.track_id = t.track_id)
              - (EXTRACT(EPOCH FROM $2::timestamptz) * 1000)::bigint, t.start_offset_ms))
          WHERE t.recording_id = $1 AND t.end_offset_ms IS NULL`,
        [recordingId, startedAt],
      );
      await tx.query(
        `UPDATE recording_series SET end_reason = 'node_lost',
            ended_at = COALESCE((SELECT max(sealed_at) FROM recording_segments WHERE recording_id = $1), started_at)
          WHERE recording_id = $1 AND series = $2 AND ended_at IS NULL`,
        [recordingId, previous],
      );
      if (!options.newSeries) return 0;
      const series = previous + 1;
      await tx.query('INSERT INTO recording_series (recording_id, series, node_id) VALUES ($1, $2, $3)', [recordingId, series, toNode]);
      return series;
    });
  }

  async series(recordingId: string): Promise<SeriesRow[]> {
    const r = await this.#db.query('SELECT * FROM recording_series WHERE recording_id = $1 ORDER BY series', [recordingId]);
    return r.rows.map((row) => {
      const x = row as Row;
      return {
        series: Number(x['series']),
        nodeId: x['node_id'] as string,
        startedAt: date(x['started_at']),
        endedAt: x['ended_at'] ? date(x['ended_at']) : null,
        endReason: (x['end_reason'] as SeriesRow['endReason']) ?? null,
      };
    });
  }

  /** Which series each track of a recording belongs to. */
  async setTrackSeries(recordingId: string, trackId: string, series: number): Promise<void> {
    await this.#db.query('UPDATE recording_tracks SET series = $3 WHERE recording_id = $1 AND track_id = $2', [recordingId, trackId, series]);
  }

  async trackSeries(recordingId: string): Promise<Map<string, number>> {
    const r = await this.#db.query<{ track_id: string; series: number }>('SELECT track_id, series FROM recording_tracks WHERE recording_id = $1', [recordingId]);
    return new Map(r.rows.map((x) => [x.track_id, Number(x.series)]));
  }

  /** Segments of a recording sealed but not (known to be) in object storage. */
  async notUploaded(recordingId: string): Promise<StoredSegment[]> {
    const r = await this.#db.query(
      `SELECT s.* FROM recording_segments s
        WHERE s.recording_id = $1 AND s.state = 'spooled'
          AND NOT EXISTS (SELECT 1 FROM recording_lost_segments l WHERE l.recording_id = s.recording_id AND l.seq = s.seq)
        ORDER BY s.seq`,
      [recordingId],
    );
    return r.rows.map((row) => segmentFrom(row as Row));
  }

  async declareLost(recordingId: string, seq: number, notedBy: string): Promise<void> {
    await this.#db.query(
      `INSERT INTO recording_lost_segments (recording_id, seq, reason, noted_by) VALUES ($1, $2, 'node_lost', $3)
       ON CONFLICT (recording_id, seq) DO NOTHING`,
      [recordingId, seq, notedBy],
    );
  }

  async lost(recordingId: string): Promise<LostSegmentRow[]> {
    const r = await this.#db.query(
      `SELECT l.seq, s.track_id, s.idx, l.reason FROM recording_lost_segments l
         JOIN recording_segments s ON s.recording_id = l.recording_id AND s.seq = l.seq
        WHERE l.recording_id = $1 ORDER BY l.seq`,
      [recordingId],
    );
    return r.rows.map((row) => {
      const x = row as Row;
      return { seq: Number(x['seq']), trackId: x['track_id'] as string, index: Number(x['idx']), reason: 'node_lost' };
    });
  }

  /**
   * Pending uploads that belong to this node's spool: segments of tracks
   * recorded in a series this node ran.
   */
  async pendingOn(nodeId: string): Promise<Array<StoredSegment & { recordingId: string }>> {
    const r = await this.#db.query(
      `SELECT s.* FROM recording_segments s
         JOIN recording_tracks t ON t.recording_id = s.recording_id AND t.track_id = s.track_id
         JOIN recording_series r ON r.recording_id = s.recording_id AND r.series = t.series
        WHERE s.state = 'spooled' AND r.node_id = $1
        ORDER BY s.sealed_at, s.seq`,
      [nodeId],
    );
    return r.rows.map((row) => ({ ...segmentFrom(row as Row), recordingId: (row as Row)['recording_id'] as string }));
  }
}
