/**
 * Recording review (`/review`), for back-office staff: the catalogue of
 * consultation recordings (what may be seen without approval), playback
 * requests with purpose and case reference, break-glass access for the duty
 * director, the requester's own requests with their tier-by-tier
 * progress, grant and plays, and for medical records staff the after-the-fact
 * classification of a recording (add sensitive categories, set a missing
 * department). Lists refresh every few seconds.
 */
import type { PlaybackRequestView, RecordingSummary } from '../../../server/protocol/playback.ts';
import { api, isBackOffice, session, type StoredSession } from '../api.ts';
import { DEPARTMENTS, SENSITIVE_CATEGORIES, categoryName, departmentName, errorText, formatDateTime, formatDuration, t, tf } from '../i18n.ts';
import {
  LiveList,
  breakGlassState,
  cardHead,
  categoryChips,
  endedNote,
  facts,
  participantsText,
  poll,
  reasonAction,
  recordingStatusText,
  statusBadge,
  tierProgress,
  validityRows,
} from '../playback/requestView.ts';
import { errorMessage, h, layout, mount, notice } from '../ui.ts';

/** Roles that may ask for playback (recordings-config/approval.jsonc `requesterRoles`; the server decides). */
const REQUESTER_ROLES = ['quality_reviewer', 'records_staff'];
const BREAK_GLASS_POSITION = 'duty_director';
/** Who classifies recordings after the fact (the server decides). */
const CLASSIFIER_ROLES = ['records_staff'];

const open = (r: PlaybackRequestView) => r.status === 'pending' || r.status === 'granted';
const cardId = (requestId: string) => `request-${requestId}`;

export function reviewPage(): void {
  const who = session.get();
  if (!isBackOffice(who)) {
    mount(layout(t('review'), notice('error', who ? t('backOfficeOnly') : errorText('AUTH_TOKEN_MISSING'))));
    return;
  }
  const mayRequest = REQUESTER_ROLES.includes(who.role);
  const mayBreakGlass = (who.positions ?? []).includes(BREAK_GLASS_POSITION);
  const mayClassify = CLASSIFIER_ROLES.includes(who.role);

  const messages = h('div', { class: 'messages', 'aria-live': 'polite' });
  const say = (kind: 'ok' | 'error' | 'info', text: string) => messages.replaceChildren(notice(kind, text));
  const fail = (err: unknown) => say('error', errorMessage(err));

  let recordings: RecordingSummary[] = [];
  let mine: PlaybackRequestView[] = [];

  // --- The catalogue -----------------------------------------------------------
  const tbody = h('tbody', {});
  const table = h(
    'table',
    { class: 'data recordings', 'data-testid': 'recordings' },
    h(
      'thead',
      {},
      h(
        'tr',
        {},
        ...[t('colRecordedAt'), t('colDuration'), t('colDepartment'), t('colCategories'), t('colParticipants'), t('colStatus'), t('colLegalHold'), t('colActions')].map((c) =>
          h('th', { scope: 'col' }, c),
        ),
      ),
    ),
    tbody,
  );
  let tableJson = '';
  const renderTable = () => {
    const json = JSON.stringify([recordings, mine.filter(open).map((r) => [r.recordingId, r.status, r.actions.play])]);
    if (json === tableJson) return;
    tableJson = json;
    if (recordings.length === 0) {
      tbody.replaceChildren(h('tr', {}, h('td', { colspan: 8, class: 'empty' }, t('noRecordings'))));
      return;
    }
    tbody.replaceChildren(...recordings.map(recordingRow));
  };

  const recordingRow = (r: RecordingSummary): HTMLElement => {
    const playable = r.status === 'complete' || r.status === 'interrupted';
    const mineOpen = mine.find((m) => m.recordingId === r.recordingId && open(m));
    const actions = h('div', { class: 'row-actions' });
    if (playable && mineOpen) {
      actions.append(
        mineOpen.actions.play
          ? h('a', { class: 'button small', href: `/player?request=${encodeURIComponent(mineOpen.requestId)}` }, t('play'))
          : h('a', { class: 'muted', href: `#${cardId(mineOpen.requestId)}` }, `${t('requestOpen')} · `, statusBadge(mineOpen.status)),
      );
    } else if (playable && mayRequest) {
      actions.append(h('button', { type: 'button', class: 'small primary', 'data-testid': 'request-playback', onclick: () => requestDialog(r) }, t('requestPlayback')));
    }
    const more = SENSITIVE_CATEGORIES.some((c) => !r.categories.includes(c)) || r.department === null;
    if (playable && mayClassify && more) {
      actions.append(h('button', { type: 'button', class: 'small', 'data-testid': 'classify', onclick: () => classifyDialog(r) }, t('classify')));
    }
    if (playable && mayBreakGlass && !mineOpen) {
      actions.append(h('button', { type: 'button', class: 'small danger', 'data-testid': 'break-glass', onclick: () => breakGlassDialog(r) }, t('breakGlass')));
    }
    return h(
      'tr',
      { 'data-recording-id': r.recordingId },
      h('td', { class: 'nowrap' }, formatDateTime(r.startedAt)),
      h('td', { class: 'nowrap' }, formatDuration(r.durationSeconds)),
      h('td', {}, departmentName(r.department)),
      h('td', {}, categoryChips(r.categories)),
      h('td', {}, participantsText(r.participantRoles) || t('noneMark')),
      h('td', { class: `rec-status ${r.status}` }, recordingStatusText(r.status)),
      h('td', {}, r.legalHold ? h('span', { class: 'badge hold' }, t('legalHoldOn')) : h('span', { class: 'muted' }, t('noneMark'))),
      h('td', {}, actions),
    );
  };

  // --- Requesting ----------------------------------------------------------------
  const recordingFacts = (r: RecordingSummary) =>
    facts(
      [t('colRecordedAt'), formatDateTime(r.startedAt)],
      [t('colDuration'), formatDuration(r.durationSeconds)],
      [t('colDepartment'), departmentName(r.department)],
      [t('colCategories'), r.categories.length ? r.categories.map(categoryName).join('、') : t('noneMark')],
      [t('colParticipants'), participantsText(r.participantRoles) || t('noneMark')],
    );

  /** A modal form; `send` gets the trimmed values after the length checks. */
  const formDialog = (options: {
    title: string;
    testid: string;
    intro: HTMLElement[];
    fields: Array<{ name: string; label: string; hint: string; min: number; max: number; multiline: boolean }>;
    submitLabel: string;
    submitClass: string;
    send: (values: Record<string, string>) => Promise<unknown>;
  }) => {
    const error = h('div', { 'aria-live': 'assertive' });
    const inputs = new Map<string, HTMLInputElement | HTMLTextAreaElement>();
    const fieldEls = options.fields.flatMap((f) => {
      const id = `${options.testid}-${f.name}`;
      const input = f.multiline
        ? h('textarea', { id, name: f.name, rows: 3, maxlength: f.max, 'aria-describedby': `${id}-hint` })
        : h('input', { id, name: f.name, maxlength: f.max, autocomplete: 'off', 'aria-describedby': `${id}-hint` });
      inputs.set(f.name, input);
      return [h('label', { for: id }, f.label), input, h('small', { id: `${id}-hint`, class: 'hint' }, f.hint)];
    });
    const submit = h('button', { type: 'submit', class: options.submitClass }, options.submitLabel);
    const dialog = h('dialog', { class: 'dialog', 'data-testid': options.testid, 'aria-labelledby': `${options.testid}-title` });
    const form = h(
      'form',
      { novalidate: true },
      h('h2', { id: `${options.testid}-title` }, options.title),
      ...options.intro,
      h('div', { class: 'dialog-fields' }, ...fieldEls),
      error,
      h('div', { class: 'buttons' }, submit, h('button', { type: 'button', onclick: () => dialog.close() }, t('cancel'))),
    );
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      const values: Record<string, string> = {};
      for (const f of options.fields) {
        const input = inputs.get(f.name)!;
        const value = input.value.trim();
        if (value.length < f.min) {
          error.replaceChildren(notice('error', tf('textTooShort', { field: f.label, min: f.min })));
          input.focus();
          return;
        }
        values[f.name] = value;
      }
      submit.disabled = true;
      options.send(values).then(
        () => dialog.close(),
        (err: unknown) => {
          submit.disabled = false;
          error.replaceChildren(notice('error', errorMessage(err)));
        },
      );
    });
    dialog.append(form);
    dialog.addEventListener('close', () => dialog.remove());
    document.body.append(dialog);
    dialog.showModal();
  };

  const caseField = { name: 'caseReference', label: t('caseReference'), hint: t('caseReferenceHint'), min: 1, max: 100, multiline: false };

  const requestDialog = (r: RecordingSummary) =>
    formDialog({
      title: t('requestFormTitle'),
      testid: 'request-form',
      intro: [recordingFacts(r)],
      fields: [{ name: 'purpose', label: t('purpose'), hint: t('purposeHint'), min: 4, max: 500, multiline: true }, caseField],
      submitLabel: t('submitRequest'),
      submitClass: 'primary',
      send: async (v) => {
        await api<PlaybackRequestView>('POST', '/api/playback-requests', { recordingId: r.recordingId, purpose: v['purpose'], caseReference: v['caseReference'] });
        say('ok', t('requestSubmitted'));
        await refresh.now();
      },
    });

  const breakGlassDialog = (r: RecordingSummary) =>
    formDialog({
      title: t('breakGlass'),
      testid: 'break-glass-form',
      intro: [h('p', { class: 'notice warning', role: 'note' }, t('breakGlassWarning')), recordingFacts(r)],
      fields: [{ name: 'reason', label: t('breakGlassReason'), hint: t('breakGlassReasonHint'), min: 10, max: 500, multiline: true }, caseField],
      submitLabel: t('breakGlassConfirm'),
      submitClass: 'danger solid',
      send: async (v) => {
        await api<PlaybackRequestView>('POST', `/api/recordings/${encodeURIComponent(r.recordingId)}/break-glass`, { reason: v['reason'], caseReference: v['caseReference'] });
        say('ok', t('breakGlassDone'));
        await refresh.now();
      },
    });

  /** Medical records: add categories (only those not on it yet) and, when none is recorded, the department. */
  const classifyDialog = (r: RecordingSummary) => {
    const error = h('div', { 'aria-live': 'assertive' });
    const boxes = SENSITIVE_CATEGORIES.filter((c) => !r.categories.includes(c)).map((c) => h('input', { type: 'checkbox', value: c, name: 'category' }));
    const department =
      r.department === null
        ? h('select', { id: 'classify-department', name: 'department' }, h('option', { value: '' }, t('classifyChooseDepartment')), ...DEPARTMENTS.map((d) => h('option', { value: d }, departmentName(d))))
        : null;
    const submit = h('button', { type: 'submit', class: 'primary' }, t('classifySave'));
    const dialog = h('dialog', { class: 'dialog', 'data-testid': 'classify-form', 'aria-labelledby': 'classify-title' });
    const form = h(
      'form',
      { novalidate: true },
      h('h2', { id: 'classify-title' }, t('classifyTitle')),
      h('p', { class: 'notice info', role: 'note' }, t('classifyNote')),
      recordingFacts(r),
      h(
        'div',
        { class: 'dialog-fields' },
        department ? h('label', { for: 'classify-department' }, t('classifyDepartment')) : null,
        department,
        boxes.length > 0
          ? h('fieldset', { class: 'categories' }, h('legend', {}, t('classifyAddCategories')), ...boxes.map((box) => h('label', {}, box, categoryName(box.value))))
          : null,
      ),
      error,
      h('div', { class: 'buttons' }, submit, h('button', { type: 'button', onclick: () => dialog.close() }, t('cancel'))),
    );
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      const addCategories = boxes.filter((b) => b.checked).map((b) => b.value);
      const chosen = department?.value ?? '';
      if (addCategories.length === 0 && chosen === '') {
        error.replaceChildren(notice('error', t('classifyNothing')));
        return;
      }
      submit.disabled = true;
      api<RecordingSummary>('POST', `/api/recordings/${encodeURIComponent(r.recordingId)}/classification`, { addCategories, ...(chosen ? { department: chosen } : {}) }).then(
        async () => {
          dialog.close();
          say('ok', t('classifyDone'));
          await refresh.now();
        },
        (err: unknown) => {
          submit.disabled = false;
          error.replaceChildren(notice('error', errorMessage(err)));
        },
      );
    });
    dialog.append(form);
    dialog.addEventListener('close', () => dialog.remove());
    document.body.append(dialog);
    dialog.showModal();
  };

  // --- My requests ---------------------------------------------------------------
  const mineList = new LiveList<PlaybackRequestView>(
    h('div', { class: 'request-list', 'data-testid': 'my-requests' }),
    (r) => r.requestId,
    (r) => myRequestCard(r, who, fail, () => refresh.now()),
    () => h('p', { class: 'muted empty' }, t('noMyRequests')),
  );

  const refresh = poll(async () => {
    try {
      const [recs, reqs] = await Promise.all([
        api<{ recordings: RecordingSummary[] }>('GET', '/api/recordings'),
        api<{ requests: PlaybackRequestView[] }>('GET', '/api/playback-requests?view=mine'),
      ]);
      recordings = [...recs.recordings].sort((a, b) => b.startedAt.localeCompare(a.startedAt));
      mine = [...reqs.requests].sort((a, b) => b.createdAt.localeCompare(a.createdAt));
      renderTable();
      mineList.update(mine);
    } catch (err) {
      fail(err);
    }
  });

  mount(
    layout(
      t('review'),
      h('p', { class: 'intro' }, t('reviewIntro')),
      messages,
      h('section', { class: 'panel block' }, h('h2', {}, t('recordingsHeading')), h('div', { class: 'table-wrap' }, table)),
      mayRequest || mayBreakGlass ? h('section', { class: 'panel block' }, h('h2', {}, t('myRequests')), mineList.element) : null,
    ),
  );
  tbody.replaceChildren(h('tr', {}, h('td', { colspan: 8, class: 'empty' }, t('loading'))));
}

function myRequestCard(r: PlaybackRequestView, who: StoredSession, fail: (err: unknown) => void, refresh: () => Promise<void>): HTMLElement {
  const actions = h('div', { class: 'card-actions' });
  if (r.actions.play) {
    actions.append(h('a', { class: 'button', 'data-testid': 'play', href: `/player?request=${encodeURIComponent(r.requestId)}` }, t('play')));
  }
  if (r.actions.revoke && r.requester.userId === who.userId) {
    actions.append(
      reasonAction({
        open: r.status === 'granted' ? t('endGrantEarly') : t('withdraw'),
        label: t('withdrawReason'),
        confirm: t('confirmWithdraw'),
        min: 2,
        testid: 'withdraw',
        submit: async (reason) => {
          await api('POST', `/api/playback-requests/${encodeURIComponent(r.requestId)}/revoke`, { reason });
          await refresh();
        },
        onError: fail,
      }),
    );
  }
  return h(
    'article',
    { class: `request-card ${r.status}`, id: cardId(r.requestId), 'data-testid': 'request-card', 'data-request-id': r.requestId, 'data-status': r.status },
    cardHead(r),
    facts(
      [r.kind === 'break_glass' ? t('breakGlassReason') : t('purpose'), r.purpose],
      [t('caseReference'), r.caseReference],
      [t('submittedAt'), formatDateTime(r.createdAt)],
      r.categories.length > 0 && [t('colCategories'), categoryChips(r.categories)],
      ...validityRows(r),
    ),
    breakGlassState(r),
    tierProgress(r),
    endedNote(r),
    actions.childElementCount > 0 ? actions : null,
  );
}
