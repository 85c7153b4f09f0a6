/**
 * Prescription review (`/pharmacy`, 药师审核), for pharmacists: the
 * prescriptions written in consultation visits of their institution that
 * await review, oldest first, each approved or rejected with a comment
 * (a rejection needs one). Nothing is dispensed before approval. The queue
 * refreshes every few seconds; a card being typed in is left alone.
 */
import type { PrescriptionView } from '../../../server/protocol/consultation.ts';
import { api, isPractitioner, session } from '../api.ts';
import { errorText, formatDateTime, paren, prescriptionStatusName, t, tf } from '../i18n.ts';
import { practitionerNames } from '../consultation/common.ts';
import { LiveList, facts, poll } from '../playback/requestView.ts';
import { prescriptionItems } from './consultation.ts';
import { errorMessage, h, layout, mount, notice } from '../ui.ts';

export function pharmacyPage(): void {
  const who = session.get();
  if (!who) {
    mount(layout(t('pharmacy'), notice('error', errorText('AUTH_TOKEN_MISSING'))));
    return;
  }
  if (!isPractitioner(who)) {
    mount(layout(t('pharmacy'), notice('error', t('pharmacistsOnly'))));
    return;
  }
  const messages = h('div', { class: 'messages', 'aria-live': 'polite' });
  const say = (kind: 'ok' | 'error', text: string) => messages.replaceChildren(notice(kind, text));
  // Prescribers by name: the view carries their id only.
  const namesReady = practitionerNames().catch(() => new Map<string, string>());
  let names = new Map<string, string>();

  const reviewed = h('ul', { class: 'rx-reviewed', 'data-testid': 'reviewed' });
  const reviewedSection = h('section', { class: 'panel block', hidden: true }, h('h2', {}, t('reviewedHere')), reviewed);

  const queue = new LiveList<PrescriptionView>(
    h('div', { class: 'request-list', 'data-testid': 'rx-queue' }),
    (p) => p.prescriptionId,
    (p) => card(p),
    () => h('p', { class: 'muted empty' }, t('noPendingPrescriptions')),
  );

  const refresh = poll(async () => {
    try {
      const [{ prescriptions }, known] = await Promise.all([api<{ prescriptions: PrescriptionView[] }>('GET', '/api/prescriptions/pending'), namesReady]);
      names = known;
      queue.update([...prescriptions].sort((a, b) => a.createdAt.localeCompare(b.createdAt)));
    } catch (err) {
      say('error', errorMessage(err));
    }
  });

  const card = (p: PrescriptionView): HTMLElement => {
    const id = `rx-comment-${p.prescriptionId}`;
    const comment = h('textarea', { id, rows: 2, maxlength: 500, 'aria-describedby': `${id}-hint` });
    const error = h('span', { class: 'field-error', role: 'alert' });
    const fieldset = h('fieldset', { class: 'decision' });
    comment.addEventListener('input', () => {
      if (comment.value.trim()) fieldset.dataset['editing'] = '1';
      else delete fieldset.dataset['editing'];
    });
    const decide = (decision: 'approve' | 'reject') => {
      const text = comment.value.trim();
      if (decision === 'reject' && text.length < 2) {
        error.textContent = t('rxRejectNeedsComment');
        comment.focus();
        return;
      }
      error.textContent = '';
      for (const b of buttons) b.disabled = true;
      api<PrescriptionView>('POST', `/api/prescriptions/${encodeURIComponent(p.prescriptionId)}/review`, { decision, comment: text }).then(
        (done) => {
          delete fieldset.dataset['editing'];
          say('ok', decision === 'approve' ? t('rxApproved') : t('rxRejected'));
          reviewedSection.hidden = false;
          reviewed.prepend(
            h(
              'li',
              { 'data-status': done.status },
              h('span', { class: `badge rx-${done.status}` }, prescriptionStatusName(done.status)),
              ` ${prescriberText(done)} · ${done.items.map((i) => i.drug).join('、')}${done.reviewComment ? paren(done.reviewComment) : ''}`,
            ),
          );
          return refresh.now();
        },
        (err: unknown) => {
          for (const b of buttons) b.disabled = false;
          say('error', errorMessage(err));
        },
      );
    };
    const buttons = [
      h('button', { type: 'button', class: 'primary', 'data-testid': 'rx-approve', onclick: () => decide('approve') }, t('rxApprove')),
      h('button', { type: 'button', class: 'danger', 'data-testid': 'rx-reject', onclick: () => decide('reject') }, t('rxReject')),
    ];
    fieldset.append(
      h('legend', {}, t('rxDecision')),
      h('label', { for: id }, t('rxComment')),
      comment,
      h('small', { id: `${id}-hint`, class: 'hint' }, t('rxCommentHint')),
      h('div', { class: 'buttons' }, ...buttons, error),
    );
    return h(
      'article',
      { class: 'request-card pending', 'data-testid': 'rx-card', 'data-prescription-id': p.prescriptionId },
      h(
        'header',
        { class: 'card-head' },
        h('span', { class: `badge rx-${p.status}` }, prescriptionStatusName(p.status)),
        h('h3', {}, tf('rxTitle', { n: p.items.length })),
        h('span', { class: 'ref muted', title: p.prescriptionId }, p.prescriptionId.replace(/^rx-/, '').slice(0, 8)),
      ),
      facts([t('prescriber'), prescriberText(p)], [t('writtenAt'), formatDateTime(p.createdAt)]),
      prescriptionItems(p.items),
      fieldset,
    );
  };

  const prescriberText = (p: PrescriptionView) => {
    const name = names.get(p.prescriberId);
    return name ? `${name}${paren(p.prescriberId)}` : p.prescriberId;
  };

  mount(
    layout(
      t('pharmacy'),
      h('p', { class: 'intro' }, t('pharmacyIntro')),
      messages,
      h('section', { class: 'panel block' }, h('h2', {}, t('rxQueueHeading')), queue.element),
      reviewedSection,
    ),
  );
  queue.element.replaceChildren(h('p', { class: 'muted' }, t('loading')));
}
