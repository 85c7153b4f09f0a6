/**
 * Rooms and their chat in the database (migration 0002).
 */
import type { Queryable } from '../db/Database.ts';

export interface StoredRoom {
  roomId: string;
  openedAt: Date;
  endedAt: Date | null;
  endedBy: string | null;
}

export interface StoredChatMessage {
  seq: number;
  senderUserId: string;
  senderRole: string;
  senderName: string | null;
  body: string;
  sentAt: Date;
}

export class RoomRepository {
  readonly #db: Queryable;

  constructor(db: Queryable) {
    this.#db = db;
  }

  /** The room's record, created on first use. */
  async open(roomId: string): Promise<StoredRoom> {
    await this.#db.query('INSERT INTO consultation_rooms (room_id) VALUES ($1) ON CONFLICT (room_id) DO NOTHING', [roomId]);
    const result = await this.#db.query<{ room_id: string; opened_at: Date; ended_at: Date | null; ended_by: string | null }>(
      'SELECT room_id, opened_at, ended_at, ended_by FROM consultation_rooms WHERE room_id = $1',
      [roomId],
    );
    const row = result.rows[0];
    if (!row) throw new Error(`room ${roomId} vanished`);
    return {
      roomId: row.room_id,
      openedAt: new Date(row.opened_at),
      endedAt: row.ended_at ? new Date(row.ended_at) : null,
      endedBy: row.ended_by,
    };
  }

  async end(roomId: string, endedBy: string): Promise<void> {
    await this.#db.query(
      `UPDATE consultation_rooms SET ended_at = now(), ended_by = $2, end_reason = 'visit_ended'
       WHERE room_id = $1 AND ended_at IS NULL`,
      [roomId, endedBy],
    );
  }

  /** Notes that a user was admitted to the visit (once per user). */
  async recordAttendance(roomId: string, userId: string, role: string): Promise<void> {
    await this.#db.query('INSERT INTO room_attendance (room_id, user_id, role) VALUES ($1, $2, $3) ON CONFLICT (room_id, user_id) DO NOTHING', [roomId, userId, role]);
  }

  async appendChat(roomId: string, message: Omit<StoredChatMessage, 'sentAt'>): Promise<StoredChatMessage> {
    const result = await this.#db.query<{ sent_at: Date }>(
      `INSERT INTO room_chat_messages (room_id, seq, sender_user_id, sender_role, sender_name, body)
       VALUES ($1, $2, $3, $4, $5, $6) RETURNING sent_at`,
      [roomId, message.seq, message.senderUserId, message.senderRole, message.senderName, message.body],
    );
    return { ...message, sentAt: new Date(result.rows[0]?.sent_at ?? Date.now()) };
  }

  /** The newest `limit` messages, oldest first. */
  async chat(roomId: string, limit: number): Promise<StoredChatMessage[]> {
    const result = await this.#db.query<{
      seq: number;
      sender_user_id: string;
      sender_role: string;
      sender_name: string | null;
      body: string;
      sent_at: Date;
    }>(
      `SELECT seq, sender_user_id, sender_role, sender_name, body, sent_at FROM (
         SELECT * FROM room_chat_messages WHERE room_id = $1 ORDER BY seq DESC LIMIT $2
       ) newest ORDER BY seq`,
      [roomId, limit],
    );
    return result.rows.map((r) => ({
      seq: Number(r.seq),
      senderUserId: r.sender_user_id,
      senderRole: r.sender_role,
      senderName: r.sender_name,
      body: r.body,
      sentAt: new Date(r.sent_at),
    }));
  }
}
