/**
 * Pieces the consultation pages share: the directory (institutions,
 * agreements, practitioners, and who the signed-in practitioner is), a
 * consultation's badge and one-line descriptions, what is waiting for whom,
 * and a modal form.
 */
import type {
  AgreementView,
  ConsultationCard,
  ConsultationStatus,
  ConsultationView,
  InstitutionView,
  PractitionerView,
} from '../../../server/protocol/consultation.ts';
import { api, type StoredSession } from '../api.ts';
import { ageText, consultationStatusName, departmentName, formatDateTime, joinList, labelled, paren, sexName, t } from '../i18n.ts';
import { errorMessage, h, notice } from '../ui.ts';

// --- The directory -------------------------------------------------------------

export interface Directory {
  institutions: InstitutionView[];
  agreements: AgreementView[];
  institution(id: string): InstitutionView | undefined;
  /** An institution's name, or its id when it is not in the directory. */
  name(id: string): string;
}

let directory: Promise<Directory> | undefined;

/** `/api/directory`, fetched once per page. */
export function loadDirectory(): Promise<Directory> {
  directory ??= api<{ institutions: InstitutionView[]; agreements: AgreementView[] }>('GET', '/api/directory').then((d) => ({
    ...d,
    institution: (id) => d.institutions.find((i) => i.institutionId === id),
    name: (id) => d.institutions.find((i) => i.institutionId === id)?.name ?? id,
  }));
  directory.catch(() => {
    directory = undefined;
  });
  return directory;
}

const practitionerLists = new Map<string, Promise<PractitionerView[]>>();

/** An institution's practitioners (fetched once per page; `fresh` fetches again). */
export function practitionersOf(institutionId: string, fresh = false): Promise<PractitionerView[]> {
  let list = fresh ? undefined : practitionerLists.get(institutionId);
  if (!list) {
    list = api<{ practitioners: PractitionerView[] }>('GET', `/api/directory/practitioners?institution=${encodeURIComponent(institutionId)}`).then((r) => r.practitioners);
    list.catch(() => practitionerLists.delete(institutionId));
    practitionerLists.set(institutionId, list);
  }
  return list;
}

/**
 * The directory entry of the signed-in practitioner. The token names the
 * person, not their institution, so the institutions' lists are searched
 * (a handful of requests, once per page).
 */
export async function myPractitioner(who: StoredSession): Promise<PractitionerView | null> {
  const dir = await loadDirectory();
  const lists = await Promise.all(dir.institutions.map((i) => practitionersOf(i.institutionId).catch(() => [])));
  return lists.flat().find((p) => p.practitionerId === who.userId) ?? null;
}

/** Every practitioner's name by id, for showing who did what. */
export async function practitionerNames(): Promise<Map<string, string>> {
  const dir = await loadDirectory();
  const lists = await Promise.all(dir.institutions.map((i) => practitionersOf(i.institutionId).catch(() => [])));
  return new Map(lists.flat().map((p) => [p.practitionerId, p.name]));
}

export interface InviteTarget {
  institution: InstitutionView;
  /** Departments an agreement in force covers and both institutions are approved for. */
  departments: string[];
}

/** Whom `inviting` may invite, and for which departments, under the cooperation agreements in force. */
export function inviteTargets(dir: Directory, inviting: string, now = new Date()): InviteTarget[] {
  const mine = dir.institution(inviting);
  const byInvited = new Map<string, Set<string>>();
  for (const a of dir.agreements) {
    if (a.invitingInstitutionId !== inviting) continue;
    if (new Date(a.validFrom) > now || new Date(a.validUntil) <= now) continue;
    const invited = dir.institution(a.invitedInstitutionId);
    if (!invited) continue;
    const set = byInvited.get(invited.institutionId) ?? new Set<string>();
    for (const d of a.departments) if (invited.departments.includes(d) && (!mine || mine.departments.includes(d))) set.add(d);
    byInvited.set(invited.institutionId, set);
  }
  return [...byInvited.entries()]
    .filter(([, set]) => set.size > 0)
    .map(([id, set]) => ({ institution: dir.institution(id)!, departments: [...set] }));
}

// --- Showing a consultation -------------------------------------------------------

export function consultationBadge(status: ConsultationStatus): HTMLElement {
  return h('span', { class: `badge cstatus-${status}`, 'data-testid': 'consultation-status', 'data-status': status }, consultationStatusName(status));
}

/** A consultation as the worklist (card) or its own page (view) has it. */
export type Shown = ConsultationCard | ConsultationView;

const hasOpinion = (v: Shown) => ('hasOpinion' in v ? v.hasOpinion : v.opinion !== null);
const documentCount = (v: Shown) => ('documentCount' in v ? v.documentCount : v.documentKinds.length);
const hasConsent = (v: Shown) => ('hasConsent' in v ? v.hasConsent : v.consent !== null);

/** "溪村卫生室 → 青县人民医院 · 全科医学科" */
export function routeText(v: Pick<Shown, 'requestingInstitution' | 'invitedInstitution' | 'department'>): string {
  return `${v.requestingInstitution.name} → ${v.invitedInstitution.name} · ${departmentName(v.department)}`;
}

/** The patient as the viewer may see them: name, sex, age and record number in full views; sex and age only before accepting. */
export function patientText(v: ConsultationView): string {
  const outline = `${sexName(v.patientOutline.sex)} · ${ageText(v.patientOutline.ageYears)}`;
  if (!v.patient) return outline;
  return `${v.patient.name} · ${outline} · ${labelled(t('mrnShort'), v.patient.mrn)}`;
}

export function slotText(slot: ConsultationView['slot']): string {
  if (!slot) return t('notScheduled');
  const start = formatDateTime(slot.start);
  const end = new Date(slot.end);
  const sameDay = new Date(slot.start).toDateString() === end.toDateString();
  return `${start} – ${sameDay ? end.toLocaleTimeString(document.documentElement.lang || 'zh-CN', { hour: '2-digit', minute: '2-digit', hourCycle: 'h23' }) : formatDateTime(end)}`;
}

export function shortRef(consultationId: string): string {
  return consultationId.replace(/^cons-/, '').slice(0, 8);
}

export function expertText(v: Pick<Shown, 'expert' | 'invitedInstitution'>): string {
  return v.expert ? `${v.expert.name}${paren(v.invitedInstitution.name)}` : t('expertNotAssigned');
}

/**
 * What happens next, from where the viewer stands: `mine` when the viewer
 * has something to do (their actions say so), otherwise what everyone is
 * waiting for.
 */
export function nextStep(v: Shown): { mine: boolean; text: string } | null {
  const a = v.actions;
  if (a.accept) return { mine: true, text: t('todoAccept') };
  if (a.confirmFollowUp) return { mine: true, text: t('todoConfirmFollowUp') };
  if (a.join && a.writeOpinion && !hasOpinion(v)) return { mine: true, text: t('todoVisitExpert') };
  if (a.complete) return { mine: true, text: t('todoComplete') };
  if (a.join) return { mine: true, text: t('todoJoin') };
  if (a.submit) {
    const missing = [documentCount(v) === 0 ? t('missingDocument') : '', hasConsent(v) ? '' : t('missingConsent')].filter(Boolean);
    return { mine: true, text: missing.length ? `${t('todoDraft')}${paren(joinList(missing))}` : t('todoSubmit') };
  }
  if (a.schedule && v.status === 'accepted') return { mine: true, text: t('todoSchedule') };
  switch (v.status) {
    case 'requested':
      return { mine: false, text: t('waitAccept') };
    case 'accepted':
      // An escalation has no schedule of its own: its expert joins the visit that is going on.
      if (v.parentId !== null) return { mine: false, text: hasOpinion(v) ? t('waitComplete') : t('waitEscalationOpinion') };
      return { mine: false, text: t('waitSchedule') };
    case 'scheduled':
      return { mine: false, text: t('waitFollowUp') };
    case 'in_progress':
      return { mine: false, text: hasOpinion(v) ? t('waitComplete') : t('waitOpinion') };
    case 'draft':
    case 'completed':
    case 'terminated':
    case 'cancelled':
      return null;
    default: {
      const never: never = v.status;
      return never;
    }
  }
}

/** The statuses a consultation passes through, in order (terminated and cancelled end it early). */
export const PATH: readonly ConsultationStatus[] = ['draft', 'requested', 'accepted', 'scheduled', 'in_progress', 'completed'];
/** An escalation's shorter path: it takes place inside its visit. */
export const ESCALATION_PATH: readonly ConsultationStatus[] = ['requested', 'accepted', 'completed'];

/** The path as steps: done, the current one, still to come; an early end replaces the rest. */
export function stepper(v: ConsultationView): HTMLElement {
  const path = v.parentId === null ? PATH : ESCALATION_PATH;
  const ended = v.status === 'terminated' || v.status === 'cancelled';
  // Where an early end happened: the last step reached.
  const reached = ended ? (v.parentId === null ? lastReached(v) : v.expert ? 1 : 0) : path.indexOf(v.status);
  // An early end replaces the steps it never reached.
  const shown = ended ? path.slice(0, reached + 1) : path;
  const steps = shown.map((status, i) => {
    const state = ended || i < reached ? 'done' : i === reached ? (status === 'completed' ? 'done' : 'current') : 'todo';
    return h('li', { class: 'step', 'data-state': state, 'aria-current': state === 'current' ? 'step' : undefined }, consultationStatusName(status));
  });
  if (ended) steps.push(h('li', { class: 'step', 'data-state': 'ended', 'aria-current': 'step' }, consultationStatusName(v.status)));
  return h('ol', { class: 'stepper', 'aria-label': t('progress') }, ...steps);
}

function lastReached(v: ConsultationView): number {
  if (v.followUpConfirmedAt) return PATH.indexOf('in_progress');
  if (v.slot) return PATH.indexOf('scheduled');
  if (v.expert) return PATH.indexOf('accepted');
  // Declined by the invited institution: it had been requested. (Whether a
  // requester's own cancellation came before or after sending is not in the view.)
  if (v.cancellation && v.cancellation.by !== v.requester.practitionerId) return PATH.indexOf('requested');
  return 0;
}

// --- A modal form -----------------------------------------------------------------

/**
 * A modal form: `fields` are laid out as given; `send` runs on submit (its
 * error is shown in the dialog, which stays open); the dialog closes when it
 * resolves.
 */
export function formDialog(options: {
  title: string;
  testid: string;
  intro?: Array<HTMLElement | null>;
  fields: HTMLElement[];
  submitLabel: string;
  submitClass: string;
  send: () => Promise<unknown>;
}): HTMLDialogElement {
  const error = h('div', { 'aria-live': 'assertive' });
  const submit = h('button', { type: 'submit', class: options.submitClass, 'data-testid': `${options.testid}-submit` }, options.submitLabel);
  const dialog = h('dialog', { class: 'dialog', 'data-testid': options.testid, 'aria-labelledby': `${options.testid}-title` });
  const form = h(
    'form',
    { novalidate: true },
    h('h2', { id: `${options.testid}-title` }, options.title),
    ...(options.intro ?? []),
    h('div', { class: 'dialog-fields' }, ...options.fields),
    error,
    h('div', { class: 'buttons' }, submit, h('button', { type: 'button', onclick: () => dialog.close() }, t('cancel'))),
  );
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    error.replaceChildren();
    submit.disabled = true;
    options.send().then(
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
  return dialog;
}

/** A labelled field: label, control, optional hint (ids tie them together for screen readers). */
export function field(id: string, label: string, control: HTMLElement, hint?: string): HTMLElement[] {
  control.id = id;
  if (hint) control.setAttribute('aria-describedby', `${id}-hint`);
  return [h('label', { for: id }, label), control, ...(hint ? [h('small', { class: 'hint', id: `${id}-hint` }, hint)] : [])];
}

/** A check made in the browser before sending: the message names the field and the field gets the focus. */
export class FieldError extends Error {
  readonly control: HTMLElement;

  constructor(control: HTMLElement, message: string) {
    super(message);
    this.control = control;
  }
}

/** Shows a FieldError at its field, anything else in `messages`. */
export function showFailure(err: unknown, where: HTMLElement): void {
  if (err instanceof FieldError) {
    where.replaceChildren(notice('error', err.message));
    err.control.focus();
    return;
  }
  where.replaceChildren(notice('error', errorMessage(err)));
}

/** Marks `container` as being edited while any of its fields holds something typed (periodic refreshes leave it alone). */
export function trackEditing(container: HTMLElement): void {
  const update = () => {
    const typed = [...container.querySelectorAll<HTMLInputElement | HTMLTextAreaElement>('input:not([type=hidden]):not([type=radio]):not([type=checkbox]), textarea')].some(
      (el) => el.value.trim() !== '' && el.value !== el.defaultValue,
    );
    if (typed) container.dataset['editing'] = '1';
    else delete container.dataset['editing'];
  };
  container.addEventListener('input', update);
  container.addEventListener('change', update);
}
