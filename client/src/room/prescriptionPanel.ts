/**
 * "开处方" in the room: the visit's practitioner writes a prescription in
 * person, from this admitted connection — the only way one comes into being
 * (`prescription:create`). It goes to a pharmacist for review before
 * anything is dispensed; the panel lists what was written here and that it
 * awaits review.
 */
import type { PrescriptionItem, PrescriptionView } from '../../../server/protocol/consultation.ts';
import { formatDateTime, prescriptionStatusName, t, tf } from '../i18n.ts';
import { SignalingError } from '../signaling.ts';
import { errorMessage, h, notice } from '../ui.ts';
import type { RoomSession } from './RoomSession.ts';

const MAX_ITEMS = 20;

export function prescriptionPanel(options: { roomSession: RoomSession; inVisit: boolean }): HTMLElement {
  const rows = h('ol', { class: 'rx-rows' });
  const written = h('ul', { class: 'rx-written', 'data-testid': 'prescriptions-written' });
  const error = h('div', { 'aria-live': 'assertive' });
  /** A message under the buttons, scrolled into sight (the side column may be scrolled). */
  const tell = (kind: 'ok' | 'error', text: string) => {
    const n = notice(kind, text);
    error.replaceChildren(n);
    n.scrollIntoView({ block: 'nearest' });
  };
  const add = h('button', { type: 'button', class: 'small', 'data-testid': 'rx-add-item' }, `+ ${t('rxAddItem')}`);
  const submit = h('button', { type: 'submit', class: 'primary', 'data-testid': 'rx-submit' }, t('rxSubmit'));
  let seq = 0;

  const addRow = () => {
    const n = ++seq;
    const input = (name: keyof PrescriptionItem, label: string, placeholder: string, extra: Record<string, string | number> = {}) =>
      h('input', { name, 'aria-label': `${label}（${n}）`, placeholder, autocomplete: 'off', maxlength: 100, 'data-field': name, ...extra });
    const remove = h('button', { type: 'button', class: 'small link-button', 'aria-label': tf('rxRemoveItem', { n }) }, '✕');
    const row = h(
      'li',
      { class: 'rx-row', 'data-testid': 'rx-item' },
      input('drug', t('drug'), t('drugPlaceholder'), { class: 'rx-drug' }),
      input('dose', t('dose'), t('dosePlaceholder')),
      input('frequency', t('frequency'), t('frequencyPlaceholder')),
      input('days', t('days'), t('days'), { type: 'number', min: 1, max: 90, inputmode: 'numeric' }),
      input('quantity', t('quantity'), t('quantityPlaceholder')),
      remove,
    );
    remove.addEventListener('click', () => {
      row.remove();
      if (rows.childElementCount === 0) addRow();
      add.disabled = false;
    });
    rows.append(row);
    add.disabled = rows.childElementCount >= MAX_ITEMS;
  };
  add.addEventListener('click', () => {
    addRow();
    rows.lastElementChild?.querySelector('input')?.focus();
  });
  addRow();

  const form = h(
    'form',
    { class: 'rx-form', novalidate: true },
    h('p', { class: 'hint' }, t('rxRules')),
    rows,
    h('div', { class: 'buttons' }, add, submit),
    error,
  );

  /** The filled-in rows as items; a half-filled row is an error naming its number. */
  const items = (): PrescriptionItem[] => {
    const out: PrescriptionItem[] = [];
    [...rows.children].forEach((row, i) => {
      const value = (name: string) => row.querySelector<HTMLInputElement>(`[data-field="${name}"]`)?.value.trim() ?? '';
      const item = { drug: value('drug'), dose: value('dose'), frequency: value('frequency'), days: Number(value('days')), quantity: value('quantity') };
      const empty = !item.drug && !item.dose && !item.frequency && !value('days') && !item.quantity;
      if (empty) return;
      if (!item.drug || !item.dose || !item.frequency || !item.quantity || !Number.isInteger(item.days) || item.days < 1 || item.days > 90) {
        throw new Error(tf('rxItemIncomplete', { n: i + 1 }));
      }
      out.push(item);
    });
    if (out.length === 0) throw new Error(t('rxNoItems'));
    return out;
  };

  form.addEventListener('submit', (event) => {
    event.preventDefault();
    let list: PrescriptionItem[];
    try {
      list = items();
    } catch (err) {
      tell('error', (err as Error).message);
      return;
    }
    submit.disabled = true;
    error.replaceChildren();
    options.roomSession.createPrescription(list).then(
      (p) => {
        submit.disabled = false;
        written.prepend(writtenItem(p));
        rows.replaceChildren();
        addRow();
        tell('ok', t('rxSent'));
      },
      (err: unknown) => {
        submit.disabled = false;
        // Outside a consultation visit the server refuses: say why in the doctor's words.
        const notVisit = !options.inVisit && err instanceof SignalingError && (err.body.code === 'FORBIDDEN' || err.body.code === 'INVALID_STATE');
        tell('error', notVisit ? `${t('rxNotInVisit')}（${err.body.code}）` : errorMessage(err));
      },
    );
  });

  return h(
    'details',
    { class: 'side-panel rx-panel', 'data-testid': 'prescription-panel' },
    h('summary', {}, h('h3', {}, t('rxHeading'))),
    form,
    written,
  );
}

function writtenItem(p: PrescriptionView): HTMLElement {
  return h(
    'li',
    { 'data-testid': 'prescription-written', 'data-status': p.status },
    h('span', { class: `badge rx-${p.status}` }, prescriptionStatusName(p.status)),
    h('span', { class: 'muted' }, ` ${formatDateTime(p.createdAt)}`),
    h('div', {}, p.items.map((i) => `${i.drug} ${i.dose} ${i.frequency} × ${tf('daysN', { n: i.days })}`).join('；')),
  );
}
