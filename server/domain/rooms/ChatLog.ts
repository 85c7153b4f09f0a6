/**
 * The room's chat, kept with the visit: each message is stored before
 * anyone sees it, numbered in the order it was accepted, and delivered in
 * that order. Appends are serialised so that a slow write cannot let a
 * later message overtake an earlier one.
 */
import { RateLimitedError, ValidationError } from '../../errors.ts';
import type { ChatMessage } from '../../protocol/room.ts';
import type { LiveRole } from '../../protocol/roles.ts';
import type { RoomRepository } from '../../storage/repositories/RoomRepository.ts';

export const MAX_CHAT_LENGTH = 2000;
const HISTORY = 200;
/** Per participant: at most this many messages in the window. */
const BURST = { messages: 8, windowMs: 5000 };

export interface ChatSender {
  peerId: string;
  userId: string;
  role: LiveRole;
  displayName: string | null;
}

export class ChatLog {
  readonly #roomId: string;
  readonly #repository: RoomRepository;
  readonly #recent: ChatMessage[];
  readonly #sentAt = new Map<string, number[]>();
  #seq: number;
  #queue: Promise<unknown> = Promise.resolve();

  private constructor(roomId: string, repository: RoomRepository, recent: ChatMessage[], seq: number) {
    this.#roomId = roomId;
    this.#repository = repository;
    this.#recent = recent;
    this.#seq = seq;
  }

  static async load(roomId: string, repository: RoomRepository): Promise<ChatLog> {
    const stored = await repository.chat(roomId, HISTORY);
    const recent = stored.map((m) => ({
      seq: m.seq,
      peerId: '',
      userId: m.senderUserId,
      role: m.senderRole as LiveRole,
      displayName: m.senderName,
      text: m.body,
      sentAt: m.sentAt.toISOString(),
    }));
    return new ChatLog(roomId, repository, recent, stored.at(-1)?.seq ?? 0);
  }

  /** Drops a departed participant's rate-limit window. */
  forget(peerId: string): void {
    this.#sentAt.delete(peerId);
  }

  history(): ChatMessage[] {
    return [...this.#recent];
  }

  append(sender: ChatSender, rawText: string, now = Date.now()): Promise<ChatMessage> {
    const text = rawText.trim();
    if (text.length === 0 || text.length > MAX_CHAT_LENGTH) {
      throw new ValidationError(`a chat message has 1 to ${MAX_CHAT_LENGTH} characters`);
    }
    const recent = (this.#sentAt.get(sender.peerId) ?? []).filter((t) => now - t < BURST.windowMs);
    if (recent.length >= BURST.messages) throw new RateLimitedError('too many chat messages; wait a moment');
    recent.push(now);
    this.#sentAt.set(sender.peerId, recent);

    const seq = ++this.#seq;
    const write = this.#queue.then(async () => {
      const stored = await this.#repository.appendChat(this.#roomId, {
        seq,
        senderUserId: sender.userId,
        senderRole: sender.role,
        senderName: sender.displayName,
        body: text,
      });
      const message: ChatMessage = {
        seq,
        peerId: sender.peerId,
        userId: sender.userId,
        role: sender.role,
        displayName: sender.displayName,
        text,
        sentAt: stored.sentAt.toISOString(),
      };
      this.#recent.push(message);
      if (this.#recent.length > HISTORY) this.#recent.shift();
      return message;
    });
    // A failed write must not block the messages after it.
    this.#queue = write.catch(() => undefined);
    return write;
  }
}
