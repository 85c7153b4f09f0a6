/**
 * One consultation (`/consultation?id=…`): the visit summary as the viewer
 * may see it, and what the viewer can do now — the server's `actions` say
 * which; the page never guesses.
 *
 * - Before the assigned expert has accepted, the view is an outline: no
 *   name, record number or documents (接诊后可查看患者病历).
 * - The requesting doctor uploads the prior diagnosis documents (复诊依据),
 *   records the patient's informed consent and sends the request; the
 *   invited institution accepts, assigns an expert and schedules; the expert
 *   confirms the visit is a follow-up (the room opens) or terminates it and
 *   refers the patient to an in-person clinic; during the visit the expert
 *   signs the opinion and completes; the host may invite another
 *   institution's expert.
 * - Every fetch of the record is a view the server audits, so the page
 *   fetches it once, then every few seconds asks only whether anything
 *   changed (`/changes`: status and version, nothing about the patient, not
 *   audited) and fetches the record again only when it did. A form being
 *   filled in is left alone.
 */
import type { ConsultationChange, ConsultationView, DocumentKind, OpinionView, PractitionerView, TerminationReason } from '../../../server/protocol/consultation.ts';
import { DOCUMENT_KINDS, TERMINATION_REASONS } from '../../../server/protocol/consultation.ts';
import { api, apiBlob, apiUpload, session, visitSession, type StoredSession } from '../api.ts';
import {
  DEPARTMENTS,
  ageText,
  consentMethodName,
  departmentName,
  documentKindName,
  errorText,
  formatDateTime,
  joinList,
  labelled,
  paren,
  prescriptionStatusName,
  professionName,
  sexName,
  t,
  terminationReasonName,
  tf,
} from '../i18n.ts';
import {
  FieldError,
  consultationBadge,
  expertText,
  field,
  formDialog,
  inviteTargets,
  loadDirectory,
  nextStep,
  practitionersOf,
  routeText,
  shortRef,
  showFailure,
  slotText,
  stepper,
  trackEditing,
} from '../consultation/common.ts';
import { facts, poll, reasonAction } from '../playback/requestView.ts';
import { errorMessage, h, layout, mount, notice } from '../ui.ts';

/** The version of the consent text below; recorded with the consent. */
export const CONSULTATION_CONSENT_VERSION = 'huizhen-consultation-consent/1';

const DOCUMENT_TYPES: Record<string, string> = { pdf: 'application/pdf', jpg: 'image/jpeg', jpeg: 'image/jpeg', png: 'image/png', txt: 'text/plain' };

type Say = (kind: 'ok' | 'error' | 'info', text: string | Node) => void;

export function consultationPage(): void {
  const who = session.get();
  const id = new URLSearchParams(location.search).get('id');
  const back = h('p', {}, h('a', { href: '/consultations' }, `← ${t('backToConsultations')}`));
  if (!who) {
    mount(layout(t('consultation'), notice('error', errorText('AUTH_TOKEN_MISSING'))));
    return;
  }
  if (!id) {
    mount(layout(t('consultation'), notice('error', t('noConsultationParam')), back));
    return;
  }
  const base = `/api/consultations/${encodeURIComponent(id)}`;
  const messages = h('div', { class: 'messages', 'aria-live': 'polite' });
  const say: Say = (kind, text) => messages.replaceChildren(h('p', { class: `notice ${kind}`, role: kind === 'error' ? 'alert' : 'status' }, text));

  const head = h('section', { class: 'panel block consult-head', 'data-testid': 'consultation-head' });
  const alertArea = h('div', {});
  const todo = h('section', { class: 'panel block todo', 'data-testid': 'actions', 'aria-labelledby': 'todo-title' });
  const patient = h('section', { class: 'panel block', 'data-testid': 'patient' });
  const summary = h('section', { class: 'panel block' });
  const documents = h('section', { class: 'panel block', 'data-testid': 'documents' });
  const opinion = h('section', { class: 'panel block', 'data-testid': 'opinion-panel' });
  const prescriptions = h('section', { class: 'panel block', 'data-testid': 'prescriptions', hidden: true });
  const history = h('section', { class: 'panel block', 'data-testid': 'history', hidden: true });

  let infoJson = '';
  let todoJson = '';
  /** The view as last shown; actions act on it. */
  let view: ConsultationView | null = null;

  const render = (v: ConsultationView, force: boolean) => {
    view = v;
    const { actions: _actions, ...info } = v;
    const json = JSON.stringify(info);
    if (json !== infoJson) {
      infoJson = json;
      renderInfo(v);
    }
    const todoKey = JSON.stringify([v.status, v.actions, v.documents.length, v.documentKinds.length, v.consent, v.slot, v.opinion?.signedAt ?? null, v.expert]);
    const typing = document.activeElement instanceof HTMLElement && todo.contains(document.activeElement) && document.activeElement.matches('input, textarea, select');
    const busy = todo.querySelector('[data-editing]') !== null || typing;
    if (force || (todoKey !== todoJson && !busy)) {
      todoJson = todoKey;
      renderTodo(v);
    }
  };

  const load = async (force = false) => {
    try {
      render(await api<ConsultationView>('GET', base), force);
    } catch (err) {
      if (!view) mount(layout(t('consultation'), notice('error', errorMessage(err)), back));
      else say('error', errorMessage(err));
    }
  };
  /** The poll: the record again only when its version or status moved. */
  const refresh = async () => {
    if (!view) return load();
    try {
      const mark = await api<ConsultationChange>('GET', `${base}/changes`);
      if (mark.version !== view.version || mark.status !== view.status) await load();
    } catch (err) {
      say('error', errorMessage(err));
    }
  };
  /** After one of our own steps: show the result at once, forms rebuilt. */
  const done = (v: ConsultationView, text: string) => {
    say('ok', text);
    render(v, true);
  };

  // --- The summary -------------------------------------------------------------

  const renderInfo = (v: ConsultationView) => {
    document.title = `${t('consultation')} ${shortRef(v.consultationId)} · ${t('appName')}`;
    head.replaceChildren(
      h(
        'header',
        { class: 'card-head' },
        consultationBadge(v.status),
        v.parentId ? h('span', { class: 'badge escalated' }, t('escalatedBadge')) : null,
        h('h2', {}, routeText(v)),
        h('span', { class: 'ref muted', title: v.consultationId }, shortRef(v.consultationId)),
      ),
      stepper(v),
      h(
        'div',
        { class: 'card-columns' },
        facts(
          [t('invitingParty'), `${v.requestingInstitution.name} · ${v.requester.name}`],
          [t('invitedParty'), v.invitedInstitution.name],
          [t('consultDepartment'), departmentName(v.department)],
          [t('expert'), expertText(v)],
          v.parentId !== null && [t('escalatedFrom'), h('a', { href: `/consultation?id=${encodeURIComponent(v.parentId)}` }, shortRef(v.parentId))],
        ),
        facts(
          [t('slot'), v.parentId ? t('escalationNoSlot') : slotText(v.slot)],
          [t('consent'), v.consent ? `${consentMethodName(v.consent.method)} · ${formatDateTime(v.consent.at)}` : h('span', { class: 'warn-text' }, t('consentNotRecorded'))],
          v.parentId === null && [t('followUpConfirmed'), v.followUpConfirmedAt ? formatDateTime(v.followUpConfirmedAt) : t('notYet')],
          [t('createdAt'), formatDateTime(v.createdAt)],
        ),
      ),
    );

    alertArea.replaceChildren(terminationPanel(v) ?? '', cancellationNote(v) ?? '');

    if (v.patient) {
      const p = v.patient;
      patient.replaceChildren(
        h('h2', {}, t('patient')),
        facts(
          [t('patientName'), h('strong', { 'data-testid': 'patient-name' }, p.name)],
          [t('sex'), sexName(p.sex)],
          [t('birthDate'), `${p.birthDate}${paren(ageText(v.patientOutline.ageYears))}`],
          [t('mrnShort'), p.mrn],
          p.userId ? [t('patientUserId'), p.userId] : null,
        ),
      );
    } else {
      patient.replaceChildren(
        h('h2', {}, t('patient')),
        facts([t('sex'), sexName(v.patientOutline.sex)], [t('age'), ageText(v.patientOutline.ageYears)]),
        h('p', { class: 'locked', 'data-testid': 'outline-note' }, t('outlineNote')),
      );
    }

    summary.replaceChildren(
      h('h2', {}, t('clinicalSummary')),
      facts(
        [t('chiefComplaint'), h('span', { class: 'pre' }, v.summary.chiefComplaint)],
        [t('priorDiagnosis'), h('span', { class: 'pre' }, v.summary.priorDiagnosis)],
        [t('question'), h('span', { class: 'pre' }, v.summary.question)],
      ),
    );

    documents.replaceChildren(h('h2', {}, t('documentsHeading')), ...documentList(v, base, say));
    opinion.replaceChildren(h('h2', {}, t('opinionHeading')), opinionView(v));

    prescriptions.hidden = v.prescriptions.length === 0;
    const prescriber = (id: string) => (id === v.requester.practitionerId ? v.requester.name : v.expert?.practitionerId === id ? v.expert.name : id);
    if (v.prescriptions.length > 0) prescriptions.replaceChildren(h('h2', {}, t('prescriptionsHeading')), ...v.prescriptions.map((p) => prescriptionCard(p, prescriber(p.prescriberId))));

    history.hidden = v.scope !== 'full';
    if (v.scope === 'full') {
      history.replaceChildren(
        h('h2', {}, t('historyHeading')),
        v.history.length === 0
          ? h('p', { class: 'muted' }, t('noHistory'))
          : h(
              'ul',
              { class: 'history' },
              ...v.history.map((x) =>
                h(
                  'li',
                  {},
                  h('a', { href: `/consultation?id=${encodeURIComponent(x.consultationId)}` }, `${formatDateTime(x.createdAt)} · ${departmentName(x.department)}`),
                  ' ',
                  consultationBadge(x.status),
                  x.opinion ? h('div', { class: 'muted clamp' }, labelled(t('opinion'), x.opinion)) : null,
                ),
              ),
            ),
      );
    }
  };

  // --- What the viewer can do ------------------------------------------------------

  const renderTodo = (v: ConsultationView) => {
    const blocks: Array<HTMLElement | null> = [];
    const a = v.actions;
    if (v.status === 'draft' && a.submit) blocks.push(draftSteps(v));
    else if (a.upload) blocks.push(block(t('addDocuments'), uploadForm()));
    if (a.accept) blocks.push(acceptBlock(v));
    if (a.confirmFollowUp) blocks.push(confirmBlock(v));
    if (a.schedule) blocks.push(scheduleBlock(v));
    if (a.join) blocks.push(joinBlock(v));
    if (a.writeOpinion) blocks.push(opinionBlock(v));
    if (a.writeOpinion || a.complete) blocks.push(completeBlock(v));
    if (a.terminate && !a.confirmFollowUp) blocks.push(block(t('terminateHeading'), h('p', { class: 'muted' }, t('terminateExplain')), terminateButton()));
    if (a.escalate) blocks.push(escalateBlock(v));
    if (a.cancel) blocks.push(cancelBlock(v));

    const step = nextStep(v);
    const shown = blocks.filter((b): b is HTMLElement => b !== null);
    todo.hidden = shown.length === 0 && !step;
    todo.replaceChildren(
      h('h2', { id: 'todo-title' }, shown.length > 0 ? t('todoHeading') : t('statusHeading')),
      step ? h('p', { class: `next-step${step.mine ? ' mine' : ''}`, 'data-testid': 'next-step' }, step.text) : '',
      ...shown,
    );
  };

  const block = (title: string, ...content: Array<Node | string | null>) => h('div', { class: 'todo-block' }, h('h3', {}, title), ...content);

  /** Runs one step: the button is disabled meanwhile; success re-renders, failure is said at `where`. */
  const act = (button: HTMLButtonElement, where: HTMLElement, run: () => Promise<ConsultationView>, ok: string) => {
    button.disabled = true;
    where.replaceChildren();
    run().then(
      (v) => done(v, ok),
      (err: unknown) => {
        button.disabled = false;
        showFailure(err, where);
      },
    );
  };

  const draftSteps = (v: ConsultationView): HTMLElement => {
    const hasDocs = v.documents.length > 0;
    const hasConsent = v.consent !== null;
    const error = h('div', { 'aria-live': 'assertive' });
    const submit = h('button', { type: 'button', class: 'primary big', 'data-testid': 'submit-request', disabled: !(hasDocs && hasConsent) }, t('submitConsultation'));
    submit.addEventListener('click', () => act(submit, error, () => api('POST', `${base}/submit`), t('submitted')));
    const missing = [hasDocs ? '' : t('missingDocument'), hasConsent ? '' : t('missingConsent')].filter(Boolean);
    const item = (doneNow: boolean, title: string, ...content: Array<Node | null>) =>
      h('li', { class: 'draft-step', 'data-state': doneNow ? 'done' : 'open' }, h('h3', {}, title), ...content);
    return h(
      'ol',
      { class: 'draft-steps' },
      item(
        hasDocs,
        t('stepDocuments'),
        hasDocs ? h('p', { class: 'ok-text' }, tf('documentsAttached', { n: v.documents.length, kinds: joinList([...new Set(v.documents.map((d) => documentKindName(d.kind)))]) })) : null,
        uploadForm(),
      ),
      item(hasConsent, t('stepConsent'), hasConsent ? h('p', { class: 'ok-text', 'data-testid': 'consent-recorded' }, `${consentMethodName(v.consent!.method)} · ${formatDateTime(v.consent!.at)}`) : consentForm()),
      item(
        false,
        t('stepSubmit'),
        h('p', { class: 'muted' }, missing.length ? tf('submitNeeds', { missing: joinList(missing) }) : t('submitReady')),
        submit,
        error,
      ),
    );
  };

  const uploadForm = (): HTMLElement => {
    const kind = h('select', { name: 'kind' }, ...DOCUMENT_KINDS.map((k) => h('option', { value: k }, documentKindName(k))));
    const file = h('input', { type: 'file', name: 'file', accept: '.pdf,.jpg,.jpeg,.png,.txt,application/pdf,image/jpeg,image/png,text/plain', 'data-testid': 'document-file' });
    const error = h('div', { 'aria-live': 'assertive' });
    const upload = h('button', { type: 'submit', class: 'primary', 'data-testid': 'upload-document' }, t('upload'));
    const form = h(
      'form',
      { class: 'inline-form upload-form', novalidate: true },
      h('p', { class: 'notice info rule', role: 'note', 'data-testid': 'follow-up-rule' }, t('followUpRule')),
      h('div', { class: 'fields' }, ...field('document-kind', t('documentKind'), kind), ...field('document-file', t('documentFile'), file, t('documentFileHint'))),
      h('div', { class: 'buttons' }, upload),
      error,
    );
    // A chosen file is something typed: keep the form while the page refreshes.
    file.addEventListener('change', () => {
      if (file.files?.length) form.dataset['editing'] = '1';
      else delete form.dataset['editing'];
    });
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      const chosen = file.files?.[0];
      if (!chosen) {
        showFailure(new FieldError(file, t('chooseFile')), error);
        return;
      }
      const ext = chosen.name.split('.').pop()?.toLowerCase() ?? '';
      const type = Object.values(DOCUMENT_TYPES).includes(chosen.type) ? chosen.type : DOCUMENT_TYPES[ext];
      if (!type) {
        showFailure(new FieldError(file, t('fileTypeNotAllowed')), error);
        return;
      }
      act(
        upload,
        error,
        () => apiUpload<ConsultationView>(`${base}/documents?kind=${encodeURIComponent(kind.value)}&name=${encodeURIComponent(chosen.name)}`, chosen, type),
        tf('uploaded', { name: chosen.name }),
      );
    });
    return form;
  };

  const consentForm = (): HTMLElement => {
    const methods = (['written', 'verbal_witnessed', 'in_app'] as const).map((m, i) =>
      h('label', { class: 'choice' }, h('input', { type: 'radio', name: 'consent-method', value: m, checked: i === 0 }), consentMethodName(m)),
    );
    const error = h('div', { 'aria-live': 'assertive' });
    const record = h('button', { type: 'submit', class: 'primary', 'data-testid': 'record-consent' }, t('recordConsent'));
    const form = h(
      'form',
      { class: 'inline-form' },
      h('div', { class: 'consent-text', 'data-testid': 'consent-text' }, h('strong', {}, t('consultConsentTitle')), h('p', {}, t('consultConsentText'))),
      h('fieldset', { class: 'choices' }, h('legend', {}, t('consentMethod')), ...methods),
      h('div', { class: 'buttons' }, record),
      error,
    );
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      const method = form.querySelector<HTMLInputElement>('input[name="consent-method"]:checked')?.value ?? 'written';
      act(record, error, () => api('POST', `${base}/consent`, { method, textVersion: CONSULTATION_CONSENT_VERSION }), t('consentSaved'));
    });
    return form;
  };

  const acceptBlock = (v: ConsultationView): HTMLElement => {
    const list = h('div', { class: 'expert-choices', role: 'radiogroup', 'aria-label': t('chooseExpert') }, h('p', { class: 'muted' }, t('loading')));
    const error = h('div', { 'aria-live': 'assertive' });
    const accept = h('button', { type: 'button', class: 'primary', 'data-testid': 'accept', disabled: true }, t('acceptAndAssign'));
    void practitionersOf(v.invitedInstitution.institutionId, true).then(
      (all) => {
        const eligible = all.filter((p) => p.status === 'verified' && p.department === v.department && (p.profession === 'physician' || p.profession === 'specialist'));
        if (eligible.length === 0) {
          list.replaceChildren(notice('error', tf('noEligibleExperts', { department: departmentName(v.department) })));
          return;
        }
        list.replaceChildren(...eligible.map((p, i) => expertChoice(p, i === 0 && eligible.length === 1)));
        accept.disabled = false;
      },
      (err: unknown) => showFailure(err, list),
    );
    accept.addEventListener('click', () => {
      const chosen = list.querySelector<HTMLInputElement>('input[name="expert"]:checked');
      if (!chosen) {
        error.replaceChildren(notice('error', t('chooseExpertFirst')));
        return;
      }
      act(accept, error, () => api('POST', `${base}/accept`, { expertId: chosen.value }), t('acceptedSaved'));
    });
    return block(t('acceptHeading'), h('p', { class: 'muted' }, tf('acceptExplain', { department: departmentName(v.department) })), list, h('div', { class: 'buttons' }, accept), error);
  };

  const expertChoice = (p: PractitionerView, checked: boolean): HTMLElement =>
    h(
      'label',
      { class: 'choice expert-choice', 'data-testid': `expert-option-${p.practitionerId}` },
      h('input', { type: 'radio', name: 'expert', value: p.practitionerId, checked }),
      h('span', { class: 'name' }, p.name),
      h('span', { class: 'muted' }, `${professionName(p.profession)} · ${departmentName(p.department)} · ${labelled(t('licenceNumber'), p.licenceNumber)}`),
      h('span', { class: 'badge verified' }, t('realNameVerified')),
    );

  const scheduleBlock = (v: ConsultationView): HTMLElement => {
    // Once scheduled, changing the time is the exception: folded away.
    if (v.slot) {
      const details = h('details', { class: 'reschedule' }, h('summary', {}, `${t('rescheduleHeading')}${paren(slotText(v.slot))}`), scheduleForm(v));
      return h('div', { class: 'todo-block' }, details);
    }
    return block(t('scheduleHeading'), scheduleForm(v));
  };

  const scheduleForm = (v: ConsultationView): HTMLElement => {
    const start = h('input', { type: 'datetime-local', name: 'start', step: 300, value: localInput(v.slot ? new Date(v.slot.start) : nextHalfHour()) });
    const minutes = v.slot ? Math.round((new Date(v.slot.end).getTime() - new Date(v.slot.start).getTime()) / 60_000) : 30;
    const duration = h(
      'select',
      { name: 'duration' },
      ...[15, 30, 45, 60, 90, 120].map((m) => h('option', { value: m, selected: m === minutes }, tf('minutes', { n: m }))),
    );
    const error = h('div', { 'aria-live': 'assertive' });
    const save = h('button', { type: 'submit', class: v.status === 'accepted' ? 'primary' : '', 'data-testid': 'schedule' }, v.slot ? t('reschedule') : t('scheduleSave'));
    const form = h(
      'form',
      { class: 'inline-form', novalidate: true },
      h('div', { class: 'fields' }, ...field('slot-start', t('slotStart'), start), ...field('slot-duration', t('slotDuration'), duration)),
      h('div', { class: 'buttons' }, save),
      error,
    );
    trackEditing(form);
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      const from = new Date(start.value);
      if (!start.value || Number.isNaN(from.getTime())) {
        showFailure(new FieldError(start, tf('fieldRequired', { field: t('slotStart') })), error);
        return;
      }
      const to = new Date(from.getTime() + Number(duration.value) * 60_000);
      act(save, error, () => api('POST', `${base}/schedule`, { start: from.toISOString(), end: to.toISOString() }), t('scheduledSaved'));
    });
    return form;
  };

  const confirmBlock = (v: ConsultationView): HTMLElement => {
    const error = h('div', { 'aria-live': 'assertive' });
    const confirm = h('button', { type: 'button', class: 'primary', 'data-testid': 'confirm-follow-up' }, t('confirmFollowUp'));
    confirm.addEventListener('click', () => act(confirm, error, () => api('POST', `${base}/confirm-follow-up`), t('followUpConfirmedSaved')));
    return block(
      t('confirmFollowUpHeading'),
      h('p', { class: 'notice info rule', role: 'note' }, t('confirmFollowUpExplain')),
      // The documents to judge by, right here.
      h('div', { class: 'confirm-documents' }, h('h4', {}, labelled(t('priorDiagnosis'), v.summary.priorDiagnosis)), ...documentList(v, base, say)),
      h('div', { class: 'buttons' }, confirm, terminateButton()),
      error,
    );
  };

  const joinBlock = (v: ConsultationView): HTMLElement => {
    const error = h('div', { 'aria-live': 'assertive' });
    const enter = h('button', { type: 'button', class: 'primary big', 'data-testid': 'enter-room' }, t('enterRoom'));
    enter.addEventListener('click', () => {
      enter.disabled = true;
      enterRoom(who, v.consultationId).catch((err: unknown) => {
        enter.disabled = false;
        showFailure(err, error);
      });
    });
    return block(t('roomHeading'), h('p', { class: 'muted' }, v.actions.join === 'host' ? t('enterRoomHost') : t('enterRoomExpert')), h('div', { class: 'buttons' }, enter), error);
  };

  const opinionBlock = (v: ConsultationView): HTMLElement => {
    const text = h('textarea', { rows: 6, maxlength: 10_000 });
    const recommendations = h('textarea', { rows: 4, maxlength: 5000 });
    if (v.opinion) {
      text.value = v.opinion.body.opinion;
      recommendations.value = v.opinion.body.recommendations;
    }
    const error = h('div', { 'aria-live': 'assertive' });
    const sign = h('button', { type: 'submit', class: 'primary', 'data-testid': 'sign-opinion' }, v.opinion ? t('resignOpinion') : t('signOpinion'));
    const form = h(
      'form',
      { class: 'inline-form opinion-form', novalidate: true, hidden: v.opinion !== null },
      ...field('opinion-text', t('opinion'), text, t('opinionHint')),
      ...field('opinion-recommendations', t('recommendations'), recommendations, t('recommendationsHint')),
      h('p', { class: 'notice info', role: 'note' }, t('signNote')),
      h('div', { class: 'buttons' }, sign),
      error,
    );
    trackEditing(form);
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      const body = { opinion: text.value.trim(), recommendations: recommendations.value.trim() };
      if (body.opinion.length < 10) {
        showFailure(new FieldError(text, tf('textTooShort', { field: t('opinion'), min: 10 })), error);
        return;
      }
      act(sign, error, () => api('POST', `${base}/opinion`, body), t('opinionSigned'));
    });
    if (!v.opinion) return block(t('writeOpinionHeading'), form);
    const revise = h('button', { type: 'button', 'data-testid': 'revise-opinion' }, t('reviseOpinion'));
    revise.addEventListener('click', () => {
      form.hidden = false;
      revise.hidden = true;
      form.dataset['editing'] = '1';
      text.focus();
    });
    return block(
      t('writeOpinionHeading'),
      h('p', { class: 'ok-text' }, tf('opinionSignedAt', { at: formatDateTime(v.opinion.signedAt) })),
      h('p', { class: 'muted' }, t('amendNote')),
      revise,
      form,
    );
  };

  const completeBlock = (v: ConsultationView): HTMLElement => {
    const error = h('div', { 'aria-live': 'assertive' });
    const complete = h('button', { type: 'button', class: v.actions.complete ? 'primary' : '', 'data-testid': 'complete', disabled: !v.actions.complete }, t('completeConsultation'));
    complete.addEventListener('click', () => {
      if (!confirm(t('completeConfirm'))) return;
      act(complete, error, () => api('POST', `${base}/complete`), t('completedSaved'));
    });
    return block(t('completeHeading'), h('p', { class: 'muted' }, v.actions.complete ? t('completeExplain') : t('completeNeedsOpinion')), h('div', { class: 'buttons' }, complete), error);
  };

  const terminateButton = (): HTMLElement => {
    const button = h('button', { type: 'button', class: 'danger', 'data-testid': 'terminate' }, t('terminate'));
    button.addEventListener('click', () => terminateDialog());
    return button;
  };

  const terminateDialog = () => {
    const reasons = TERMINATION_REASONS.map((r, i) =>
      h(
        'label',
        { class: 'choice' },
        h('input', { type: 'radio', name: 'termination-reason', value: r, checked: i === 0 }),
        h('span', {}, h('strong', {}, terminationReasonName(r)), h('small', { class: 'hint block' }, terminationReasonHint(r))),
      ),
    );
    const note = h('textarea', { rows: 2, maxlength: 1000 });
    const institution = h('input', { maxlength: 100, autocomplete: 'off', list: 'referral-institutions' });
    const department = h('input', { maxlength: 100, autocomplete: 'off', list: 'referral-departments' });
    const advice = h('textarea', { rows: 2, maxlength: 1000 });
    const institutions = h('datalist', { id: 'referral-institutions' });
    void loadDirectory().then((dir) => institutions.replaceChildren(...dir.institutions.map((i) => h('option', { value: i.name }))), () => undefined);
    const departments = h('datalist', { id: 'referral-departments' }, ...DEPARTMENTS.map((d) => h('option', { value: departmentName(d) })));
    if (view) {
      institution.value = view.invitedInstitution.name;
      department.value = departmentName(view.department);
    }
    formDialog({
      title: t('terminateTitle'),
      testid: 'terminate-form',
      intro: [h('p', { class: 'notice warning', role: 'note' }, t('terminateWarning'))],
      fields: [
        h('fieldset', { class: 'choices' }, h('legend', {}, t('terminationReason')), ...reasons),
        ...field('termination-note', t('terminationNote'), note, t('terminationNoteHint')),
        h('h3', {}, t('referralHeading')),
        ...field('referral-institution', t('referralInstitution'), institution),
        ...field('referral-department', t('referralDepartment'), department),
        ...field('referral-advice', t('referralAdvice'), advice, t('referralAdviceHint')),
        institutions,
        departments,
      ],
      submitLabel: t('terminateConfirm'),
      submitClass: 'danger solid',
      send: async () => {
        const need = (control: HTMLInputElement | HTMLTextAreaElement, label: string, min: number) => {
          const value = control.value.trim();
          if (value.length < min) {
            control.focus();
            throw new Error(tf('textTooShort', { field: label, min }));
          }
          return value;
        };
        const body = {
          reason: (document.querySelector<HTMLInputElement>('input[name="termination-reason"]:checked')?.value ?? 'first_visit') as TerminationReason,
          note: need(note, t('terminationNote'), 2),
          referral: {
            institution: need(institution, t('referralInstitution'), 2),
            department: need(department, t('referralDepartment'), 1),
            advice: need(advice, t('referralAdvice'), 2),
          },
        };
        done(await api<ConsultationView>('POST', `${base}/terminate`, body), t('terminatedSaved'));
      },
    });
  };

  const escalateBlock = (v: ConsultationView): HTMLElement => {
    const details = h('details', { class: 'escalate' }, h('summary', {}, t('escalateHeading')));
    const body = h('div', {}, h('p', { class: 'muted' }, t('loading')));
    details.append(body);
    void loadDirectory().then(
      (dir) => {
        const targets = inviteTargets(dir, v.requestingInstitution.institutionId);
        if (targets.length === 0) {
          body.replaceChildren(h('p', { class: 'muted' }, tf('noAgreements', { institution: v.requestingInstitution.name })));
          return;
        }
        const institution = h('select', {}, ...targets.map((x) => h('option', { value: x.institution.institutionId }, x.institution.name)));
        const department = h('select', {});
        const fill = () =>
          department.replaceChildren(...(targets.find((x) => x.institution.institutionId === institution.value)?.departments ?? []).map((d) => h('option', { value: d }, departmentName(d))));
        institution.addEventListener('change', fill);
        fill();
        const question = h('textarea', { rows: 3, maxlength: 2000 });
        const error = h('div', { 'aria-live': 'assertive' });
        const send = h('button', { type: 'submit', class: 'primary', 'data-testid': 'escalate' }, t('escalateSend'));
        const form = h(
          'form',
          { class: 'inline-form', novalidate: true },
          h('p', { class: 'muted' }, t('escalateExplain')),
          h('div', { class: 'fields' }, ...field('escalate-institution', t('invitedInstitution'), institution), ...field('escalate-department', t('consultDepartment'), department)),
          ...field('escalate-question', t('question'), question),
          h('div', { class: 'buttons' }, send),
          error,
        );
        trackEditing(form);
        form.addEventListener('submit', (event) => {
          event.preventDefault();
          const q = question.value.trim();
          if (q.length < 2) {
            showFailure(new FieldError(question, tf('textTooShort', { field: t('question'), min: 2 })), error);
            return;
          }
          send.disabled = true;
          api<ConsultationView>('POST', `${base}/escalations`, { invitedInstitutionId: institution.value, department: department.value, question: q }).then(
            (child) => {
              say('ok', h('span', {}, `${t('escalated')} `, h('a', { href: `/consultation?id=${encodeURIComponent(child.consultationId)}` }, routeText(child))));
              void load(true);
            },
            (err: unknown) => {
              send.disabled = false;
              showFailure(err, error);
            },
          );
        });
        body.replaceChildren(form);
      },
      (err: unknown) => showFailure(err, body),
    );
    return h('div', { class: 'todo-block' }, details);
  };

  const cancelBlock = (v: ConsultationView): HTMLElement => {
    const asRequester = v.requester.practitionerId === who.userId;
    return h(
      'div',
      { class: 'todo-block quiet' },
      reasonAction({
        open: asRequester ? (v.status === 'draft' ? t('discardDraft') : t('withdrawConsultation')) : t('declineConsultation'),
        label: asRequester ? t('withdrawConsultationReason') : t('declineReason'),
        confirm: asRequester ? t('confirmWithdrawConsultation') : t('confirmDecline'),
        min: 2,
        testid: 'cancel-consultation',
        submit: async (reason) => done(await api<ConsultationView>('POST', `${base}/cancel`, { reason }), asRequester ? t('withdrawnSaved') : t('declinedSaved')),
        onError: (err) => say('error', errorMessage(err)),
      }),
    );
  };

  mount(
    layout(
      t('consultation'),
      back,
      messages,
      head,
      alertArea,
      todo,
      h('div', { class: 'consult-columns' }, h('div', {}, patient, summary, documents), h('div', {}, opinion, prescriptions, history)),
    ),
  );
  head.replaceChildren(h('p', { class: 'muted' }, t('loading')));
  todo.hidden = true;
  poll(() => refresh());
}

/** Gets a visit token for the room and opens the room page with it; the staff session stays as it is. */
async function enterRoom(who: StoredSession, consultationId: string): Promise<void> {
  const r = await api<{ token: string; expiresAt: number; roomId: string; role: 'host' | 'expert'; displayName: string }>(
    'POST',
    `/api/consultations/${encodeURIComponent(consultationId)}/visit-token`,
  );
  visitSession.set({ token: r.token, expiresAt: r.expiresAt, userId: who.userId, role: r.role, displayName: r.displayName, roomId: r.roomId, consultationId });
  location.assign(`/room?consultation=${encodeURIComponent(consultationId)}`);
}

function terminationPanel(v: ConsultationView): HTMLElement | null {
  const x = v.termination;
  if (!x) return null;
  const by = v.expert && v.expert.practitionerId === x.by ? v.expert.name : x.by;
  return h(
    'section',
    { class: 'panel block termination', 'data-testid': 'termination', role: 'note' },
    h('h2', {}, t('terminatedTitle')),
    h('p', { class: 'termination-lead' }, t('terminatedLead')),
    facts(
      [t('terminationReason'), h('strong', {}, terminationReasonName(x.reason))],
      [t('terminationNote'), h('span', { class: 'pre' }, x.note)],
      [t('referralTo'), h('strong', { 'data-testid': 'referral' }, `${x.referral.institution} · ${x.referral.department}`)],
      [t('referralAdvice'), h('span', { class: 'pre' }, x.referral.advice)],
      [t('terminatedBy'), `${by} · ${formatDateTime(x.at)}`],
    ),
  );
}

function cancellationNote(v: ConsultationView): HTMLElement | null {
  const c = v.cancellation;
  if (!c) return null;
  if (c.code === 'visit_ended') return h('p', { class: 'notice warning', role: 'note', 'data-testid': 'cancellation' }, `${t('escalationClosedWithVisit')}${paren(formatDateTime(c.at))}`);
  const byRequester = c.by === v.requester.practitionerId;
  return h(
    'p',
    { class: 'notice warning', role: 'note', 'data-testid': 'cancellation' },
    `${byRequester ? t('withdrawnNote') : t('declinedNote')}${labelled(t('reason'), c.reason)}${paren(`${byRequester ? v.requester.name : v.invitedInstitution.name} · ${formatDateTime(c.at)}`)}`,
  );
}

function documentList(v: ConsultationView, base: string, say: Say): HTMLElement[] {
  if (v.scope === 'outline') {
    return [
      v.documentKinds.length === 0
        ? h('p', { class: 'muted' }, t('noDocuments'))
        : h('p', {}, tf('documentsOutline', { n: v.documentKinds.length, kinds: joinList([...new Set(v.documentKinds.map((k: DocumentKind) => documentKindName(k)))]) })),
      h('p', { class: 'locked' }, t('documentsLocked')),
    ];
  }
  if (v.documents.length === 0) return [h('p', { class: 'muted', 'data-testid': 'no-documents' }, t('noDocuments'))];
  return [
    h(
      'ul',
      { class: 'documents' },
      ...v.documents.map((d) => {
        const open = h('button', { type: 'button', class: 'small', 'data-testid': 'view-document' }, t('viewDocument'));
        open.addEventListener('click', () => openDocument(`${base}/documents/${encodeURIComponent(d.documentId)}`, say));
        return h(
          'li',
          { 'data-document-id': d.documentId, 'data-testid': 'document' },
          h('span', { class: 'doc-title' }, h('span', { class: 'doc-kind' }, documentKindName(d.kind)), ' ', h('span', { class: 'doc-name' }, d.fileName)),
          h('span', { class: 'muted doc-meta' }, `${fileSize(d.bytes)} · ${formatDateTime(d.uploadedAt)}`),
          open,
        );
      }),
    ),
  ];
}

/**
 * Opens a document in a new tab. The request needs the bearer token, so the
 * tab is opened at once (while the click still counts) and shown the file
 * once it has arrived.
 */
function openDocument(path: string, say: Say): void {
  const tab = window.open('', '_blank');
  apiBlob(path).then(
    (blob) => {
      // Plain text is taken as UTF-8 (the server stores the type without a charset; a browser would guess Latin-1).
      const typed = blob.type.startsWith('text/plain') ? new Blob([blob], { type: 'text/plain;charset=utf-8' }) : blob;
      const url = URL.createObjectURL(typed);
      if (tab) tab.location.href = url;
      else location.assign(url);
      setTimeout(() => URL.revokeObjectURL(url), 60_000);
    },
    (err: unknown) => {
      tab?.close();
      say('error', errorMessage(err));
    },
  );
}

function opinionView(v: ConsultationView): HTMLElement {
  const o = v.opinion;
  if (!o) {
    const ended = v.status === 'completed' || v.status === 'terminated' || v.status === 'cancelled';
    return h('p', { class: 'muted', 'data-testid': 'no-opinion' }, v.status === 'in_progress' ? t('opinionPending') : ended ? t('noOpinion') : t('opinionLater'));
  }
  return h(
    'div',
    {},
    opinionArticle(o, 'opinion'),
    // Amendments never erase what was signed: earlier versions stay, folded away.
    v.earlierOpinions.length > 0
      ? h(
          'details',
          { class: 'opinion-versions', 'data-testid': 'earlier-opinions' },
          h('summary', {}, tf('earlierOpinions', { n: v.earlierOpinions.length })),
          ...v.earlierOpinions.map((e) => opinionArticle(e, 'earlier-opinion')),
        )
      : null,
  );
}

function opinionArticle(o: OpinionView, testid: string): HTMLElement {
  return h(
    'article',
    { class: `opinion ${o.verified ? 'verified' : 'unverified'}${testid === 'opinion' ? '' : ' superseded'}`, 'data-testid': testid, 'data-version': String(o.version) },
    h('h3', {}, testid === 'opinion' ? t('opinionBodyHeading') : tf('opinionVersionSuperseded', { n: o.version })),
    h('p', { class: 'pre', 'data-testid': 'opinion-text' }, o.body.opinion),
    o.body.recommendations ? h('h3', {}, t('recommendations')) : null,
    o.body.recommendations ? h('p', { class: 'pre' }, o.body.recommendations) : null,
    h(
      'footer',
      { class: 'signature' },
      h(
        'span',
        { class: `badge ${o.verified ? 'sig-ok' : 'sig-bad'}`, 'data-testid': 'signature-state', 'data-verified': String(o.verified) },
        o.verified ? `✓ ${t('signatureVerified')}` : `✕ ${t('signatureInvalid')}`,
      ),
      h('span', {}, `${o.expertName} · ${formatDateTime(o.signedAt)}${o.version > 1 ? ` · ${tf('opinionVersion', { n: o.version })}` : ''}`),
      h('span', { class: 'muted mono', 'data-testid': 'certificate-serial' }, labelled(t('certificateSerial'), o.certificateSerial)),
    ),
    o.verified ? null : h('p', { class: 'notice error', role: 'alert' }, t('signatureInvalidExplain')),
  );
}

function prescriptionCard(p: ConsultationView['prescriptions'][number], prescriber: string): HTMLElement {
  return h(
    'article',
    { class: `rx-card ${p.status}`, 'data-testid': 'prescription', 'data-status': p.status },
    h(
      'header',
      { class: 'card-head' },
      h('span', { class: `badge rx-${p.status}` }, prescriptionStatusName(p.status)),
      h('span', {}, labelled(t('prescriber'), prescriber)),
      h('span', { class: 'muted' }, formatDateTime(p.createdAt)),
    ),
    prescriptionItems(p.items),
    p.reviewComment ? h('p', { class: 'muted' }, labelled(t('pharmacistComment'), p.reviewComment)) : null,
  );
}

export function prescriptionItems(items: ConsultationView['prescriptions'][number]['items']): HTMLElement {
  return h(
    'table',
    { class: 'data rx-items' },
    h('thead', {}, h('tr', {}, ...[t('drug'), t('dose'), t('frequency'), t('days'), t('quantity')].map((c) => h('th', { scope: 'col' }, c)))),
    h('tbody', {}, ...items.map((i) => h('tr', {}, h('td', {}, i.drug), h('td', {}, i.dose), h('td', {}, i.frequency), h('td', {}, String(i.days)), h('td', {}, i.quantity)))),
  );
}

function terminationReasonHint(r: TerminationReason): string {
  switch (r) {
    case 'first_visit':
      return t('reasonFirstVisitHint');
    case 'condition_changed':
      return t('reasonConditionChangedHint');
    case 'not_suitable_remote':
      return t('reasonNotSuitableHint');
    default: {
      const never: never = r;
      return never;
    }
  }
}

function fileSize(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}

/** A date as a datetime-local input wants it (local time, minutes). */
function localInput(d: Date): string {
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

function nextHalfHour(): Date {
  const d = new Date(Date.now() + 30 * 60_000);
  d.setMinutes(d.getMinutes() < 30 ? 30 : 60, 0, 0);
  return d;
}
