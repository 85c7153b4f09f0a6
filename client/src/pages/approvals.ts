/**
 * Playback approvals (`/approvals`), for approvers: the requests whose
 * awaited tier they hold (approve or deny with a comment, or why separation
 * of duties bars them), break-glass accesses to review, and the open
 * requests and grants they oversee and may revoke. Lists refresh every few
 * seconds; a card being typed in is left alone.
 */
import type { PlaybackRequestView } from '../../../server/protocol/playback.ts';
import { api, isBackOffice, session } from '../api.ts';
import { departmentName, errorText, formatDateTime, formatDuration, labelled, pick, t, tf } from '../i18n.ts';
import {
  LiveList,
  blockedText,
  breakGlassState,
  cardHead,
  categoryChips,
  facts,
  participantsText,
  poll,
  progressText,
  reasonAction,
  recordingStatusText,
  recordingTitle,
  requesterText,
  statusBadge,
  tierProgress,
  validityRows,
} from '../playback/requestView.ts';
import { errorMessage, h, layout, mount, notice } from '../ui.ts';

export function approvalsPage(): void {
  const who = session.get();
  if (!isBackOffice(who)) {
    mount(layout(t('approvals'), notice('error', who ? t('backOfficeOnly') : errorText('AUTH_TOKEN_MISSING'))));
    return;
  }
  const messages = h('div', { class: 'messages', 'aria-live': 'polite' });
  const say = (kind: 'ok' | 'error', text: string) => messages.replaceChildren(notice(kind, text));
  const fail = (err: unknown) => say('error', errorMessage(err));
  const base = (r: PlaybackRequestView) => `/api/playback-requests/${encodeURIComponent(r.requestId)}`;

  const queue = new LiveList<PlaybackRequestView>(
    h('div', { class: 'request-list', 'data-testid': 'queue' }),
    (r) => r.requestId,
    (r) => queueCard(r),
    () => h('p', { class: 'muted empty' }, t('noQueue')),
  );
  const oversight = new LiveList<PlaybackRequestView>(
    h('tbody', {}),
    (r) => r.requestId,
    (r) => oversightRow(r),
    () => h('tr', {}, h('td', { colspan: 5, class: 'empty' }, t('noOversight'))),
  );

  const refresh = poll(async () => {
    try {
      const [q, o] = await Promise.all([
        api<{ requests: PlaybackRequestView[] }>('GET', '/api/playback-requests?view=queue'),
        api<{ requests: PlaybackRequestView[] }>('GET', '/api/playback-requests?view=oversight'),
      ]);
      // Oldest first: the one waiting longest (and expiring soonest) on top.
      queue.update([...q.requests].sort((a, b) => a.createdAt.localeCompare(b.createdAt)));
      oversight.update([...o.requests].sort((a, b) => a.createdAt.localeCompare(b.createdAt)));
    } catch (err) {
      fail(err);
    }
  });

  /** Who asked, why, and what the recording is: everything an approver weighs. */
  const requestFacts = (r: PlaybackRequestView) => {
    const rec = r.recording;
    return h(
      'div',
      { class: 'card-columns' },
      facts(
        [r.kind === 'break_glass' ? t('breakGlassBy') : t('requester'), requesterText(r)],
        [r.kind === 'break_glass' ? t('breakGlassReason') : t('purpose'), h('span', { class: 'purpose' }, r.purpose)],
        [t('caseReference'), r.caseReference],
        [r.kind === 'break_glass' ? t('breakGlassAt') : t('submittedAt'), formatDateTime(r.createdAt)],
        ...validityRows(r),
      ),
      rec
        ? facts(
            [t('colRecordedAt'), formatDateTime(rec.startedAt)],
            [t('colDuration'), formatDuration(rec.durationSeconds)],
            [t('colDepartment'), departmentName(r.department)],
            [t('colCategories'), categoryChips(r.categories)],
            [t('colParticipants'), participantsText(rec.participantRoles) || t('noneMark')],
            [t('colStatus'), recordingStatusText(rec.status)],
          )
        : null,
    );
  };

  /** A comment box and buttons; the box marks the card as being edited once something is typed. */
  const decisionForm = (options: {
    legend: string;
    label: string;
    hint: string;
    buttons: Array<{ text: string; cls: string; testid: string; needsComment: boolean; act: (comment: string) => Promise<unknown> }>;
    disabled?: HTMLElement;
  }) => {
    const id = `c-${Math.random().toString(36).slice(2, 10)}`;
    const comment = h('textarea', { id, rows: 2, maxlength: 500, 'aria-describedby': `${id}-hint`, disabled: options.disabled !== undefined });
    const error = h('span', { class: 'field-error', role: 'alert' });
    const fieldset = h('fieldset', { class: 'decision' });
    comment.addEventListener('input', () => {
      if (comment.value.trim()) fieldset.dataset['editing'] = '1';
      else delete fieldset.dataset['editing'];
    });
    const buttons = options.buttons.map((b) =>
      h(
        'button',
        {
          type: 'button',
          class: b.cls,
          'data-testid': b.testid,
          disabled: options.disabled !== undefined,
          onclick: () => {
            const text = comment.value.trim();
            if (b.needsComment && text.length < 2) {
              error.textContent = b.testid === 'deny' ? t('rejectNeedsComment') : tf('reasonTooShort', { min: 2 });
              comment.focus();
              return;
            }
            error.textContent = '';
            for (const el of buttons) el.disabled = true;
            b.act(text).then(
              () => {
                delete fieldset.dataset['editing'];
                return refresh.now();
              },
              (err: unknown) => {
                for (const el of buttons) el.disabled = false;
                fail(err);
              },
            );
          },
        },
        b.text,
      ),
    );
    fieldset.append(
      h('legend', {}, options.legend),
      ...(options.disabled ? [options.disabled] : []),
      h('label', { for: id }, options.label),
      comment,
      h('small', { id: `${id}-hint`, class: 'hint' }, options.hint),
      h('div', { class: 'buttons' }, ...buttons, error),
    );
    return fieldset;
  };

  const queueCard = (r: PlaybackRequestView): HTMLElement => {
    const awaited = r.tiers.find((tier) => tier.id === (r.actions.decideTier ?? r.nextTierId));
    let action: HTMLElement | null = null;
    if (r.actions.review && r.breakGlass) {
      action = decisionForm({
        legend: tf('breakGlassReviewAs', { tier: pick(r.breakGlass.reviewTier.label) }),
        label: t('reviewComment'),
        hint: t('reviewCommentHint'),
        buttons: (['justified', 'unjustified'] as const).map((outcome) => ({
          text: t(outcome),
          cls: outcome === 'justified' ? 'primary' : 'danger',
          testid: outcome,
          needsComment: true,
          act: async (comment: string) => {
            await api('POST', `${base(r)}/review`, { outcome, comment });
            say('ok', t('reviewSaved'));
          },
        })),
      });
    } else if (r.actions.decideTier || r.actions.blocked) {
      const tier = r.actions.decideTier ?? r.nextTierId ?? '';
      action = decisionForm({
        legend: tf(r.actions.decideTier ? 'decideAs' : 'tierDecision', { tier: awaited ? pick(awaited.label) : tier }),
        label: t('comment'),
        hint: t('commentHint'),
        ...(r.actions.blocked
          ? { disabled: h('p', { class: 'notice error blocked', 'data-testid': 'blocked' }, labelled(t('blockedTitle'), blockedText(r.actions.blocked))) }
          : {}),
        buttons: [
          {
            text: t('approve'),
            cls: 'primary',
            testid: 'approve',
            needsComment: false,
            act: async (comment: string) => {
              await api('POST', `${base(r)}/decisions`, { tier, decision: 'approve', comment });
              say('ok', t('decisionSaved'));
            },
          },
          {
            text: t('reject'),
            cls: 'danger',
            testid: 'deny',
            needsComment: true,
            act: async (comment: string) => {
              await api('POST', `${base(r)}/decisions`, { tier, decision: 'deny', comment });
              say('ok', t('decisionSaved'));
            },
          },
        ],
      });
    }
    return h(
      'article',
      { class: `request-card ${r.status}`, 'data-testid': 'request-card', 'data-request-id': r.requestId, 'data-status': r.status },
      cardHead(r),
      requestFacts(r),
      breakGlassState(r),
      tierProgress(r),
      action,
    );
  };

  /** One open request or grant per row: what it is, where it stands, and revocation. */
  const oversightRow = (r: PlaybackRequestView): HTMLElement => {
    const validity = validityRows(r).map(([label, value]) => h('div', { class: 'muted' }, labelled(label, value)));
    return h(
      'tr',
      { 'data-testid': 'oversight-row', 'data-request-id': r.requestId, 'data-status': r.status },
      h('td', {}, h('div', { class: 'badges' }, statusBadge(r.status), r.kind === 'break_glass' ? h('span', { class: 'badge break-glass' }, t('breakGlass')) : null)),
      h('td', {}, h('div', {}, recordingTitle(r)), h('div', { class: 'muted' }, r.requestId.replace(/^pbr-/, '').slice(0, 8))),
      h(
        'td',
        {},
        h('div', {}, requesterText(r)),
        h('div', { class: 'clamp', title: r.purpose }, r.purpose),
        h('div', { class: 'muted' }, labelled(t('caseReference'), r.caseReference)),
      ),
      h('td', {}, h('div', {}, progressText(r)), ...validity),
      h(
        'td',
        {},
        reasonAction({
          open: r.status === 'granted' ? t('revokeGrant') : t('revokeRequest'),
          label: t('revokeReason'),
          confirm: t('confirmRevoke'),
          min: 2,
          testid: 'revoke',
          submit: async (reason) => {
            await api('POST', `${base(r)}/revoke`, { reason });
            say('ok', t('revoked'));
            await refresh.now();
          },
          onError: fail,
        }),
      ),
    );
  };

  mount(
    layout(
      t('approvals'),
      h('p', { class: 'intro' }, t('approvalsIntro')),
      messages,
      h('section', { class: 'panel block' }, h('h2', {}, t('queueHeading')), queue.element),
      h(
        'section',
        { class: 'panel block' },
        h('h2', {}, t('oversightHeading')),
        h('p', { class: 'muted' }, t('oversightIntro')),
        h(
          'div',
          { class: 'table-wrap' },
          h(
            'table',
            { class: 'data oversight', 'data-testid': 'oversight' },
            h('thead', {}, h('tr', {}, ...[t('colState'), t('recordingOf'), t('colRequest'), t('colProgress'), t('colActions')].map((c) => h('th', { scope: 'col' }, c)))),
            oversight.element,
          ),
        ),
      ),
    ),
  );
  queue.element.replaceChildren(h('p', { class: 'muted' }, t('loading')));
}
