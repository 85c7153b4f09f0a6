/**
 * Pieces the recording review, approval and player pages share: a playback
 * request's card (status, facts, tier-by-tier progress), recording facts,
 * an inline reason form, and a list that refreshes in place.
 */
import type { PlaybackRequestView, RecordingSummary, RequestStatus, TierView } from '../../../server/protocol/playback.ts';
import {
  anyRoleName,
  categoryName,
  departmentName,
  formatDateTime,
  formatDuration,
  joinList,
  labelled,
  paren,
  pick,
  t,
  tf,
} from '../i18n.ts';
import { h } from '../ui.ts';

const STATUS_TEXT: Record<RequestStatus, () => string> = {
  pending: () => t('statusPending'),
  granted: () => t('statusGranted'),
  denied: () => t('statusDenied'),
  expired: () => t('statusExpired'),
  revoked: () => t('statusRevoked'),
};

export function statusBadge(status: RequestStatus): HTMLElement {
  return h('span', { class: `badge status-${status}`, 'data-testid': 'request-status', 'data-status': status }, STATUS_TEXT[status]());
}

const RECORDING_STATUS: Record<RecordingSummary['status'], () => string> = {
  recording: () => t('recRecording'),
  finalizing: () => t('recFinalizing'),
  complete: () => t('recComplete'),
  interrupted: () => t('recInterrupted'),
  destroyed: () => t('recDestroyed'),
};

export function recordingStatusText(status: RecordingSummary['status']): string {
  return RECORDING_STATUS[status]();
}

/** Sensitive categories as chips, or a dash. */
export function categoryChips(categories: readonly string[]): HTMLElement {
  if (categories.length === 0) return h('span', { class: 'muted' }, t('noneMark'));
  return h('span', { class: 'chips' }, ...categories.map((c) => h('span', { class: 'chip sensitive', 'data-category': c }, categoryName(c))));
}

/** "主持医生（邀请方）、会诊专家（受邀方）×2、患者" */
export function participantsText(roles: readonly string[]): string {
  const counts = new Map<string, number>();
  for (const r of roles) counts.set(r, (counts.get(r) ?? 0) + 1);
  const order = ['host', 'expert', 'patient', 'observer'];
  return joinList(
    [...counts.entries()]
      .sort(([a], [b]) => (order.indexOf(a) + 1 || 99) - (order.indexOf(b) + 1 || 99))
      .map(([role, n]) => (n > 1 ? `${anyRoleName(role)} ×${n}` : anyRoleName(role))),
  );
}

/** "孙质控（质控人员）" */
export function requesterText(view: PlaybackRequestView): string {
  return `${view.requester.name ?? view.requester.userId}${paren(anyRoleName(view.requester.role))}`;
}

/** One line naming a recording: when, how long, which department. */
export function recordingTitle(view: Pick<PlaybackRequestView, 'recording' | 'department' | 'recordingId'>): string {
  const r = view.recording;
  if (!r) return `${t('recordingOf')} ${view.recordingId}`;
  return `${t('recordingOf')} ${formatDateTime(r.startedAt)} · ${formatDuration(r.durationSeconds)} · ${departmentName(view.department)}`;
}

/** Label/value pairs as a definition list. */
export function facts(...rows: Array<[string, Node | string] | null | false>): HTMLElement {
  const dl = h('dl', { class: 'facts' });
  for (const row of rows) {
    if (!row) continue;
    dl.append(h('dt', {}, row[0]), h('dd', {}, row[1]));
  }
  return dl;
}

function tierState(tier: TierView, view: PlaybackRequestView): { state: string; text: string } {
  if (tier.decision) return tier.decision.decision === 'approve' ? { state: 'approved', text: t('tierApproved') } : { state: 'denied', text: t('tierDenied') };
  if (view.status === 'pending') return view.nextTierId === tier.id ? { state: 'awaiting', text: t('tierAwaiting') } : { state: 'not-yet', text: t('tierNotYet') };
  // Denied, revoked or expired before this tier's turn.
  return { state: 'not-yet', text: t('tierNotDecided') };
}

/** The tiers in order, each with its decision (who, when, comment) or where it stands. */
export function tierProgress(view: PlaybackRequestView): HTMLElement | null {
  if (view.tiers.length === 0) return null;
  return h(
    'div',
    { class: 'tier-progress' },
    h('h4', {}, t('tierProgress')),
    h(
      'ol',
      { class: 'tiers', 'aria-label': t('tierProgress') },
      ...view.tiers.map((tier) => {
        const { state, text } = tierState(tier, view);
        const d = tier.decision;
        return h(
          'li',
          { class: `tier ${state}`, 'data-tier': tier.id, 'data-state': state },
          h('span', { class: 'tier-label' }, pick(tier.label)),
          h('span', { class: 'tier-state' }, text),
          d ? h('span', { class: 'tier-who' }, `${d.approverName ?? d.approverId} · ${formatDateTime(d.decidedAt)}`) : null,
          d && d.comment ? h('span', { class: 'tier-comment' }, `“${d.comment}”`) : null,
        );
      }),
    ),
  );
}

/** Break-glass: that it was, and where its after-the-fact review stands. */
export function breakGlassState(view: PlaybackRequestView): HTMLElement | null {
  const bg = view.breakGlass;
  if (!bg) return null;
  if (!bg.review) {
    return h('p', { class: 'bg-review pending' }, tf('reviewAwaiting', { tier: pick(bg.reviewTier.label), due: formatDateTime(bg.reviewDueAt) }));
  }
  return h(
    'p',
    { class: `bg-review ${bg.review.outcome}` },
    `${bg.review.outcome === 'justified' ? t('reviewJustified') : t('reviewUnjustified')}${paren(`${bg.review.by} · ${formatDateTime(bg.review.at)}`)}${bg.review.comment ? ` “${bg.review.comment}”` : ''}`,
  );
}

/** Why a revoked request ended, and by whom (a denial shows at its tier). */
export function endedNote(view: PlaybackRequestView): HTMLElement | null {
  if (!view.ended?.reason || view.status !== 'revoked') return null;
  return h('p', { class: 'ended-note' }, `${labelled(t('endReasonRevoked'), view.ended.reason)}${view.ended.by ? paren(labelled(t('endedByWho'), view.ended.by)) : ''}`);
}

/** One line on where a request stands, for compact lists. */
export function progressText(view: PlaybackRequestView): string {
  if (view.breakGlass) return breakGlassState(view)?.textContent ?? '';
  if (view.status === 'pending') {
    const n = view.tiers.findIndex((tier) => tier.id === view.nextTierId);
    const tier = view.tiers[n];
    return tier ? tf('progressPending', { tier: pick(tier.label), n: n + 1, total: view.tiers.length }) : STATUS_TEXT.pending();
  }
  if (view.status === 'granted') return tf('progressGranted', { total: view.tiers.length });
  return STATUS_TEXT[view.status]();
}

/** Validity and plays of a request or grant, whichever applies. */
export function validityRows(view: PlaybackRequestView): Array<[string, string]> {
  const rows: Array<[string, string]> = [];
  if (view.status === 'pending') rows.push([t('requestExpiresAt'), formatDateTime(view.expiresAt)]);
  if (view.grant) {
    rows.push([t('grantExpiresAt'), formatDateTime(view.grant.expiresAt)]);
    rows.push([t('plays'), tf('playsUsed', { used: view.grant.playsUsed, max: view.grant.maxPlays })]);
  }
  return rows;
}

/** The card head: status, break-glass flag, which recording, the request's reference. */
export function cardHead(view: PlaybackRequestView): HTMLElement {
  return h(
    'header',
    { class: 'card-head' },
    statusBadge(view.status),
    view.kind === 'break_glass' ? h('span', { class: 'badge break-glass' }, t('breakGlass')) : null,
    h('h3', {}, recordingTitle(view)),
    h('span', { class: 'ref muted', title: view.requestId }, view.requestId.replace(/^pbr-/, '').slice(0, 8)),
  );
}

/**
 * The server's reason separation of duties bars someone, in the reader's
 * language (the server sends a sentence, not a code).
 */
export function blockedText(code: NonNullable<PlaybackRequestView['actions']['blocked']>): string {
  switch (code) {
    case 'requester':
      return t('sodRequester');
    case 'participant':
      return t('sodParticipant');
    case 'other_tier':
      return t('sodOtherTier');
    default: {
      const never: never = code;
      return String(never);
    }
  }
}

/**
 * A reason typed inline (withdraw, revoke): a button that opens a small
 * form; the form checks the minimum length before calling `submit`.
 */
export function reasonAction(options: {
  open: string;
  label: string;
  confirm: string;
  min: number;
  testid: string;
  submit: (reason: string) => Promise<unknown>;
  onError: (err: unknown) => void;
}): HTMLElement {
  const wrap = h('div', { class: 'reason-action' });
  const openButton = h('button', { type: 'button', class: 'danger', 'data-testid': options.testid }, options.open);
  const inputId = `${options.testid}-${Math.random().toString(36).slice(2, 8)}`;
  const input = h('input', { id: inputId, maxlength: 500, autocomplete: 'off' });
  const error = h('span', { class: 'field-error', role: 'alert' });
  const confirmButton = h('button', { type: 'submit', class: 'danger' }, options.confirm);
  const form = h(
    'form',
    { class: 'reason-form', hidden: true },
    h('label', { for: inputId }, options.label),
    input,
    confirmButton,
    h('button', { type: 'button', onclick: () => close() }, t('cancel')),
    error,
  );
  const close = () => {
    form.hidden = true;
    openButton.hidden = false;
    delete wrap.dataset['editing'];
  };
  openButton.addEventListener('click', () => {
    form.hidden = false;
    openButton.hidden = true;
    wrap.dataset['editing'] = '1';
    input.focus();
  });
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const reason = input.value.trim();
    if (reason.length < options.min) {
      error.textContent = tf('reasonTooShort', { min: options.min });
      input.focus();
      return;
    }
    error.textContent = '';
    confirmButton.disabled = true;
    options.submit(reason).then(
      () => close(),
      (err: unknown) => {
        confirmButton.disabled = false;
        options.onError(err);
      },
    );
  });
  wrap.append(openButton, form);
  return wrap;
}

/**
 * A list of cards kept in step with the server: a card is rebuilt only when
 * its data changed, and never while someone is typing in it (an element
 * inside marked `data-editing`, or a focused field).
 */
export class LiveList<T> {
  readonly element: HTMLElement;
  readonly #key: (item: T) => string;
  readonly #render: (item: T) => HTMLElement;
  readonly #empty: () => HTMLElement;
  readonly #cards = new Map<string, { json: string; el: HTMLElement }>();

  constructor(element: HTMLElement, key: (item: T) => string, render: (item: T) => HTMLElement, empty: () => HTMLElement) {
    this.element = element;
    this.#key = key;
    this.#render = render;
    this.#empty = empty;
  }

  update(items: readonly T[]): void {
    const next = new Map<string, { json: string; el: HTMLElement }>();
    for (const item of items) {
      const key = this.#key(item);
      const json = JSON.stringify(item);
      const old = this.#cards.get(key);
      const typing = document.activeElement?.matches('input, textarea, select') && old?.el.contains(document.activeElement);
      const busy = old && (old.el.querySelector('[data-editing]') !== null || typing);
      next.set(key, old && (old.json === json || busy) ? old : { json, el: this.#render(item) });
    }
    this.#cards.clear();
    for (const [key, card] of next) this.#cards.set(key, card);
    if (next.size === 0) {
      this.element.replaceChildren(this.#empty());
      return;
    }
    // Move only what is out of place: moving an element would take its focus.
    const wanted = [...next.values()].map((c) => c.el);
    for (const child of [...this.element.children]) if (!wanted.includes(child as HTMLElement)) child.remove();
    wanted.forEach((el, i) => {
      const at = this.element.children[i] ?? null;
      if (at !== el) this.element.insertBefore(el, at);
    });
  }
}

/**
 * Calls `load` now, every `ms` while the page is visible, and on demand;
 * never two at once.
 */
export function poll(load: () => Promise<void>, ms = 5000): { now(): Promise<void> } {
  let running: Promise<void> | null = null;
  const now = (): Promise<void> => {
    running ??= load().finally(() => {
      running = null;
    });
    return running;
  };
  setInterval(() => {
    if (!document.hidden) void now();
  }, ms);
  document.addEventListener('visibilitychange', () => {
    if (!document.hidden) void now();
  });
  void now();
  return { now };
}
