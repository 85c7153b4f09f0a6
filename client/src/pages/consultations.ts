/**
 * The consultation worklist (`/consultations`).
 *
 * - A practitioner sees the consultations they requested and those they
 *   were assigned to as the expert, and files a new request (会诊申请):
 *   invited institution and department as the cooperation agreements of
 *   their institution allow, the patient, and the clinical summary. The
 *   draft then opens on its own page for documents, consent and sending.
 * - An institution's administrator sees what was sent to the institution:
 *   requests waiting to be accepted first, then the rest.
 *
 * The lists are cards: no patient name, record number or clinical text —
 * the server never sends them for a list (the record is read, and that
 * read audited, only when a consultation is opened). Lists refresh every
 * few seconds.
 */
import type { ConsultationCard, ConsultationView, PatientDetails, PractitionerView } from '../../../server/protocol/consultation.ts';
import { adminsInstitution, api, isPractitioner, session, type StoredSession } from '../api.ts';
import { ageText, departmentName, errorText, formatDateTime, labelled, paren, sexName, t, terminationReasonName, tf } from '../i18n.ts';
import {
  FieldError,
  consultationBadge,
  expertText,
  field,
  inviteTargets,
  loadDirectory,
  myPractitioner,
  nextStep,
  routeText,
  shortRef,
  showFailure,
  slotText,
  trackEditing,
  type InviteTarget,
} from '../consultation/common.ts';
import { LiveList, facts, poll } from '../playback/requestView.ts';
import { errorMessage, h, layout, mount, notice } from '../ui.ts';

const OPEN = ['draft', 'requested', 'accepted', 'scheduled', 'in_progress'];
const href = (v: ConsultationCard) => `/consultation?id=${encodeURIComponent(v.consultationId)}`;

export function consultationsPage(): void {
  const who = session.get();
  if (!who) {
    mount(layout(t('consultations'), notice('error', errorText('AUTH_TOKEN_MISSING'))));
    return;
  }
  const admin = adminsInstitution(who);
  if (!admin && !isPractitioner(who)) {
    mount(layout(t('consultations'), notice('error', t('consultationsStaffOnly'))));
    return;
  }

  const messages = h('div', { class: 'messages', 'aria-live': 'polite' });
  const fail = (err: unknown) => messages.replaceChildren(notice('error', errorMessage(err)));

  const list = (testid: string, empty: string) =>
    new LiveList<ConsultationCard>(
      h('div', { class: 'consult-list', 'data-testid': testid }),
      (v) => v.consultationId,
      (v) => consultationCard(v, who),
      () => h('p', { class: 'muted empty' }, empty),
    );

  const sections: HTMLElement[] = [];
  let update: (all: ConsultationCard[]) => void;
  const newest = (a: ConsultationCard, b: ConsultationCard) => b.createdAt.localeCompare(a.createdAt);
  // What waits for me first, then the other open ones, then finished ones; within each, newest first.
  const rank = (v: ConsultationCard) => (nextStep(v)?.mine ? 0 : OPEN.includes(v.status) ? 1 : 2);
  const byOpenThenNewest = (a: ConsultationCard, b: ConsultationCard) => rank(a) - rank(b) || newest(a, b);

  if (admin) {
    const toAccept = list('to-accept', t('noToAccept'));
    const invited = list('invited', t('noInvited'));
    sections.push(
      h('section', { class: 'panel block' }, h('h2', {}, t('toAcceptHeading')), toAccept.element),
      h('section', { class: 'panel block' }, h('h2', {}, t('invitedHeading')), invited.element),
    );
    update = (all) => {
      // Oldest first: the one waiting longest on top.
      toAccept.update(all.filter((v) => v.actions.accept).sort((a, b) => a.createdAt.localeCompare(b.createdAt)));
      invited.update(all.filter((v) => !v.actions.accept).sort(byOpenThenNewest));
    };
  } else {
    const requested = list('my-requests', t('noMyConsultations'));
    const assigned = list('assigned-to-me', t('noAssigned'));
    // Shown once there is something: a village doctor is never anyone's expert.
    const assignedSection = h('section', { class: 'panel block', hidden: true }, h('h2', {}, t('assignedHeading')), assigned.element);
    sections.push(assignedSection, h('section', { class: 'panel block' }, h('h2', {}, t('myConsultationsHeading')), requested.element));
    update = (all) => {
      const mine = all.filter((v) => v.expert?.practitionerId === who.userId);
      assignedSection.hidden = mine.length === 0;
      requested.update(all.filter((v) => v.requester.practitionerId === who.userId).sort(byOpenThenNewest));
      assigned.update(mine.sort(byOpenThenNewest));
    };
  }

  const refresh = poll(async () => {
    try {
      const { consultations } = await api<{ consultations: ConsultationCard[] }>('GET', '/api/consultations');
      update(consultations);
    } catch (err) {
      fail(err);
    }
  });
  void refresh;

  // Practitioners (not pharmacists) file requests.
  const requestArea = h('div', { class: 'request-area' });
  if (!admin) {
    void myPractitioner(who).then(
      (me) => {
        if (!me) requestArea.replaceChildren(notice('error', errorText('PRACTITIONER_NOT_VERIFIED')));
        else if (me.profession !== 'pharmacist') requestArea.replaceChildren(newRequest(me, messages));
        else requestArea.replaceChildren(h('p', {}, h('a', { class: 'button', href: '/pharmacy' }, t('pharmacy'))));
      },
      (err: unknown) => fail(err),
    );
  }

  mount(
    layout(
      t('consultations'),
      h('p', { class: 'intro' }, admin ? t('consultationsIntroAdmin') : t('consultationsIntro')),
      messages,
      requestArea,
      ...sections,
    ),
  );
}

function consultationCard(v: ConsultationCard, who: StoredSession): HTMLElement {
  const step = nextStep(v);
  const asRequester = v.requester.practitionerId === who.userId;
  return h(
    'article',
    { class: `consult-card ${v.status}`, 'data-testid': 'consultation-card', 'data-consultation-id': v.consultationId, 'data-status': v.status },
    h(
      'header',
      { class: 'card-head' },
      consultationBadge(v.status),
      v.parentId ? h('span', { class: 'badge escalated' }, t('escalatedBadge')) : null,
      // Sex and age name the card; the patient's name is on the consultation's own page.
      h('h3', {}, h('a', { href: href(v) }, patientTitle(v))),
      h('span', { class: 'ref muted', title: v.consultationId }, shortRef(v.consultationId)),
    ),
    h('p', { class: 'route' }, `${routeText(v)}${asRequester ? '' : ` · ${labelled(t('requestedBy'), v.requester.name)}`}`),
    h(
      'div',
      { class: 'card-columns' },
      facts(
        [t('expert'), expertText(v)],
        [t('slot'), v.parentId ? t('escalationNoSlot') : slotText(v.slot)],
      ),
      facts(
        [t('createdAt'), formatDateTime(v.createdAt)],
        v.endedAt ? [t('endedAt'), formatDateTime(v.endedAt)] : [t('documentsHeading'), tf('documentCount', { n: v.documentCount })],
      ),
    ),
    v.termination ? h('p', { class: 'card-alert', role: 'note' }, `${t('terminatedReferShort')} ${labelled(t('terminationReason'), terminationReasonName(v.termination.reason))}`) : null,
    v.cancellation ? h('p', { class: 'card-alert quiet', role: 'note' }, cancelledText(v.cancellation.by)) : null,
    h(
      'footer',
      { class: 'card-foot' },
      step ? h('span', { class: `next-step${step.mine ? ' mine' : ''}`, 'data-testid': 'next-step' }, step.text) : h('span', {}),
      h('a', { class: `button small${step?.mine ? '' : ' secondary'}`, href: href(v), 'data-testid': 'open-consultation' }, step?.mine ? t('handle') : t('openConsultation')),
    ),
  );
}

function cancelledText(by: NonNullable<ConsultationCard['cancellation']>['by']): string {
  switch (by) {
    case 'requester':
      return t('withdrawnNote');
    case 'invited_institution':
      return t('declinedNote');
    case 'visit_ended':
      return t('escalationClosedWithVisit');
    default: {
      const never: never = by;
      return never;
    }
  }
}

/** "女，70 岁（接诊后显示姓名）" while waiting to be accepted; "女，70 岁" after. */
function patientTitle(v: ConsultationCard): string {
  const sexAge = `${sexName(v.patientOutline.sex)}${t('listComma')}${ageText(v.patientOutline.ageYears)}`;
  // The name is never on a list: say where it is.
  return `${sexAge}${paren(v.status === 'requested' ? t('nameAfterAccepting') : t('nameOnPage'))}`;
}

// --- A new request -------------------------------------------------------------

function newRequest(me: PractitionerView, messages: HTMLElement): HTMLElement {
  const open = h('button', { type: 'button', class: 'primary big', 'data-testid': 'new-request' }, t('newRequest'));
  const panel = h('section', { class: 'panel block request-form-panel', hidden: true, 'data-testid': 'request-form', 'aria-labelledby': 'request-form-title' });
  const wrap = h('div', {}, h('p', { class: 'buttons' }, open), panel);
  open.addEventListener('click', () => {
    open.hidden = true;
    panel.hidden = false;
    void loadDirectory().then(
      (dir) => {
        panel.replaceChildren(...requestForm(me, inviteTargets(dir, me.institutionId), dir.name(me.institutionId), () => {
          panel.hidden = true;
          open.hidden = false;
        }));
        panel.querySelector<HTMLElement>('select, input')?.focus();
      },
      (err: unknown) => messages.replaceChildren(notice('error', errorMessage(err))),
    );
  });
  return wrap;
}

function requestForm(me: PractitionerView, targets: InviteTarget[], myInstitution: string, close: () => void): HTMLElement[] {
  const title = h('h2', { id: 'request-form-title' }, t('newRequest'));
  if (targets.length === 0) {
    return [title, notice('error', tf('noAgreements', { institution: myInstitution })), h('button', { type: 'button', onclick: close }, t('cancel'))];
  }
  const error = h('div', { 'aria-live': 'assertive' });
  const institution = h('select', { name: 'invitedInstitutionId', required: true }, ...targets.map((x) => h('option', { value: x.institution.institutionId }, x.institution.name)));
  const department = h('select', { name: 'department', required: true });
  const fillDepartments = () => {
    const target = targets.find((x) => x.institution.institutionId === institution.value);
    department.replaceChildren(...(target?.departments ?? []).map((d) => h('option', { value: d }, departmentName(d))));
  };
  institution.addEventListener('change', fillDepartments);
  fillDepartments();

  const name = h('input', { name: 'patientName', maxlength: 50, autocomplete: 'off', required: true });
  const mrn = h('input', { name: 'mrn', maxlength: 50, autocomplete: 'off', required: true });
  const sex = h('select', { name: 'sex', required: true }, h('option', { value: '' }, t('choose')), ...(['female', 'male', 'other'] as const).map((s) => h('option', { value: s }, sexName(s))));
  const birthDate = h('input', { type: 'date', name: 'birthDate', required: true, max: new Date().toISOString().slice(0, 10), min: '1900-01-01' });
  const patientUserId = h('input', { name: 'patientUserId', maxlength: 128, autocomplete: 'off' });
  const chiefComplaint = h('textarea', { name: 'chiefComplaint', rows: 2, maxlength: 1000, required: true });
  const priorDiagnosis = h('textarea', { name: 'priorDiagnosis', rows: 2, maxlength: 1000, required: true });
  const question = h('textarea', { name: 'question', rows: 3, maxlength: 2000, required: true });
  const submit = h('button', { type: 'submit', class: 'primary', 'data-testid': 'save-draft' }, t('saveDraft'));

  const form = h(
    'form',
    { class: 'consult-form', novalidate: true },
    h(
      'fieldset',
      {},
      h('legend', {}, t('invitedParty')),
      h('p', { class: 'hint span2' }, tf('invitedPartyHint', { institution: myInstitution })),
      ...field('invited-institution', t('invitedInstitution'), institution),
      ...field('department', t('consultDepartment'), department),
    ),
    h(
      'fieldset',
      {},
      h('legend', {}, t('patient')),
      ...field('patient-name', t('patientName'), name),
      ...field('patient-mrn', t('mrnShort'), mrn, t('mrnHint')),
      ...field('patient-sex', t('sex'), sex),
      ...field('patient-birth-date', t('birthDate'), birthDate),
      ...field('patient-user-id', t('patientUserId'), patientUserId, t('patientUserIdHint')),
    ),
    h(
      'fieldset',
      {},
      h('legend', {}, t('clinicalSummary')),
      ...field('chief-complaint', t('chiefComplaint'), chiefComplaint),
      ...field('prior-diagnosis', t('priorDiagnosis'), priorDiagnosis, t('priorDiagnosisHint')),
      ...field('question', t('question'), question, t('questionHint')),
    ),
    h('p', { class: 'notice info span2', role: 'note' }, t('followUpRuleShort')),
    error,
    h('div', { class: 'buttons' }, submit, h('button', { type: 'button', onclick: close }, t('cancel'))),
  );
  trackEditing(form);

  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const need = (control: HTMLInputElement | HTMLTextAreaElement | HTMLSelectElement, label: string, min = 1) => {
      const value = control.value.trim();
      if (value.length < min) throw new FieldError(control, min > 1 ? tf('textTooShort', { field: label, min }) : tf('fieldRequired', { field: label }));
      return value;
    };
    let body: { invitedInstitutionId: string; department: string; patient: PatientDetails; summary: ConsultationView['summary'] };
    try {
      const userId = patientUserId.value.trim();
      body = {
        invitedInstitutionId: need(institution, t('invitedInstitution')),
        department: need(department, t('consultDepartment')),
        patient: {
          name: need(name, t('patientName')),
          mrn: need(mrn, t('mrnShort')),
          sex: need(sex, t('sex')) as PatientDetails['sex'],
          birthDate: need(birthDate, t('birthDate')),
          ...(userId ? { userId } : {}),
        },
        summary: {
          chiefComplaint: need(chiefComplaint, t('chiefComplaint'), 2),
          priorDiagnosis: need(priorDiagnosis, t('priorDiagnosis'), 2),
          question: need(question, t('question'), 2),
        },
      };
    } catch (err) {
      showFailure(err, error);
      return;
    }
    submit.disabled = true;
    error.replaceChildren();
    api<ConsultationView>('POST', '/api/consultations', body).then(
      (v) => location.assign(`/consultation?id=${encodeURIComponent(v.consultationId)}`),
      (err: unknown) => {
        submit.disabled = false;
        showFailure(err, error);
      },
    );
  });
  return [title, h('p', { class: 'muted' }, `${t('newRequestIntro')} ${labelled(t('requestedBy'), `${me.name} · ${myInstitution}`)}`), form];
}
