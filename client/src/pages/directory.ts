/**
 * The institution's practitioners (`/directory`), for its administrator:
 * who is registered, real-name verified (实名认证) or suspended; register a
 * practitioner, verify one after checking the identity document and the
 * practising licence in person (the institution's CA then issues the
 * practitioner's signing certificate), suspend one at once.
 */
import type { PractitionerView, Profession } from '../../../server/protocol/consultation.ts';
import { PROFESSIONS } from '../../../server/protocol/consultation.ts';
import { adminsInstitution, api, session } from '../api.ts';
import { departmentName, errorText, formatDateTime, idDocumentTypeName, labelled, practitionerStatusName, professionName, t, tf } from '../i18n.ts';
import { field, formDialog, loadDirectory, practitionersOf, trackEditing, FieldError, showFailure } from '../consultation/common.ts';
import { reasonAction } from '../playback/requestView.ts';
import { errorMessage, h, layout, mount, notice } from '../ui.ts';

const ID_DOCUMENT_TYPES = ['resident_id', 'passport', 'other'] as const;

export function directoryPage(): void {
  const who = session.get();
  if (!adminsInstitution(who)) {
    mount(layout(t('directoryTitle'), notice('error', who ? t('institutionAdminsOnly') : errorText('AUTH_TOKEN_MISSING'))));
    return;
  }
  const institutionId = who.institutionId;
  const messages = h('div', { class: 'messages', 'aria-live': 'polite' });
  const say = (kind: 'ok' | 'error', text: string) => messages.replaceChildren(notice(kind, text));
  const tbody = h('tbody', {}, h('tr', {}, h('td', { colspan: 6, class: 'empty' }, t('loading'))));
  const registerArea = h('div', {});
  const heading = h('h2', {}, t('practitionersHeading'));

  const load = async () => {
    try {
      const list = await practitionersOf(institutionId, true);
      tbody.replaceChildren(...(list.length === 0 ? [h('tr', {}, h('td', { colspan: 6, class: 'empty' }, t('noPractitioners')))] : list.map(row)));
    } catch (err) {
      say('error', errorMessage(err));
    }
  };

  const row = (p: PractitionerView): HTMLElement => {
    const actions = h('div', { class: 'row-actions' });
    if (p.status === 'pending') {
      actions.append(h('button', { type: 'button', class: 'primary', 'data-testid': `verify-${p.practitionerId}`, onclick: () => verifyDialog(p) }, t('verifyPractitioner')));
    }
    if (p.status === 'verified') {
      actions.append(
        reasonAction({
          open: t('suspend'),
          label: t('suspendReason'),
          confirm: t('confirmSuspend'),
          min: 2,
          testid: `suspend-${p.practitionerId}`,
          submit: async (reason) => {
            await api('POST', `/api/directory/practitioners/${encodeURIComponent(p.practitionerId)}/suspend`, { reason });
            say('ok', tf('suspended', { name: p.name }));
            await load();
          },
          onError: (err) => say('error', errorMessage(err)),
        }),
      );
    }
    if (p.status === 'suspended') {
      // Lifting a suspension is its own decision, with a reason, in the audit trail (re-verifying does not lift it).
      actions.append(
        reasonAction({
          open: t('reinstate'),
          label: t('reinstateReason'),
          confirm: t('confirmReinstate'),
          min: 2,
          testid: `reinstate-${p.practitionerId}`,
          submit: async (reason) => {
            await api('POST', `/api/directory/practitioners/${encodeURIComponent(p.practitionerId)}/reinstate`, { reason });
            say('ok', tf('reinstated', { name: p.name }));
            await load();
          },
          onError: (err) => say('error', errorMessage(err)),
        }),
      );
    }
    return h(
      'tr',
      { 'data-practitioner-id': p.practitionerId, 'data-status': p.status },
      h('td', {}, h('strong', {}, p.name), h('div', { class: 'muted mono' }, p.practitionerId)),
      h('td', {}, departmentName(p.department), h('div', { class: 'muted' }, professionName(p.profession))),
      h('td', { class: 'mono' }, p.licenceNumber),
      h('td', {}, h('span', { class: `badge pstatus-${p.status}` }, practitionerStatusName(p.status))),
      h(
        'td',
        {},
        p.verifiedAt ? h('div', {}, formatDateTime(p.verifiedAt)) : h('span', { class: 'muted' }, t('noneMark')),
        p.certificateSerial ? h('div', { class: 'muted mono', title: p.certificateSerial }, labelled(t('certificateSerial'), `${p.certificateSerial.slice(0, 12)}…`)) : null,
      ),
      h('td', {}, actions),
    );
  };

  const verifyDialog = (p: PractitionerView) => {
    const type = h('select', {}, ...ID_DOCUMENT_TYPES.map((x) => h('option', { value: x }, idDocumentTypeName(x))));
    const number = h('input', { maxlength: 40, autocomplete: 'off' });
    const licence = h('input', { maxlength: 40, autocomplete: 'off' });
    formDialog({
      title: tf('verifyTitle', { name: p.name }),
      testid: 'verify-form',
      intro: [h('p', { class: 'notice info', role: 'note' }, t('verifyExplain'))],
      fields: [
        ...field('id-document-type', t('idDocumentType'), type),
        ...field('id-document-number', t('idDocumentNumber'), number, t('idDocumentNumberHint')),
        ...field('licence-number', t('licenceNumber'), licence, t('licenceNumberHint')),
      ],
      submitLabel: t('confirmVerify'),
      submitClass: 'primary',
      send: async () => {
        if (number.value.trim().length < 6) throw new Error(tf('textTooShort', { field: t('idDocumentNumber'), min: 6 }));
        if (licence.value.trim().length < 6) throw new Error(tf('textTooShort', { field: t('licenceNumber'), min: 6 }));
        await api('POST', `/api/directory/practitioners/${encodeURIComponent(p.practitionerId)}/verify`, {
          idDocumentType: type.value,
          idDocumentNumber: number.value.trim(),
          licenceNumber: licence.value.trim(),
        });
        say('ok', tf('verified', { name: p.name }));
        await load();
      },
    });
  };

  void loadDirectory().then(
    (dir) => {
      const mine = dir.institution(institutionId);
      heading.textContent = `${t('practitionersHeading')}${mine ? ` · ${mine.name}` : ''}`;
      registerArea.replaceChildren(registerForm(mine?.departments ?? [], mine?.level === 'village_clinic' ? 'village_doctor' : 'physician', institutionId, () => load(), say));
    },
    (err: unknown) => say('error', errorMessage(err)),
  );

  mount(
    layout(
      t('directoryTitle'),
      h('p', { class: 'intro' }, t('directoryIntro')),
      messages,
      h(
        'section',
        { class: 'panel block' },
        heading,
        h(
          'div',
          { class: 'table-wrap' },
          h(
            'table',
            { class: 'data practitioners', 'data-testid': 'practitioners' },
            h('thead', {}, h('tr', {}, ...[t('colName'), t('colDepartmentProfession'), t('licenceNumber'), t('colPractitionerStatus'), t('colVerified'), t('colActions')].map((c) => h('th', { scope: 'col' }, c)))),
            tbody,
          ),
        ),
      ),
      registerArea,
    ),
  );
  void load();
}

function registerForm(departments: string[], defaultProfession: Profession, institutionId: string, reload: () => Promise<void>, say: (kind: 'ok' | 'error', text: string) => void): HTMLElement {
  const id = h('input', { maxlength: 128, autocomplete: 'off', pattern: '[A-Za-z0-9._:@-]+' });
  const name = h('input', { maxlength: 50, autocomplete: 'off' });
  const licence = h('input', { maxlength: 40, autocomplete: 'off' });
  const department = h('select', {}, ...departments.map((d) => h('option', { value: d }, departmentName(d))));
  const profession = h('select', {}, ...PROFESSIONS.map((p) => h('option', { value: p, selected: p === defaultProfession }, professionName(p))));
  const error = h('div', { 'aria-live': 'assertive' });
  const submit = h('button', { type: 'submit', class: 'primary', 'data-testid': 'register-practitioner' }, t('register'));
  const form = h(
    'form',
    { class: 'inline-form', novalidate: true },
    h(
      'div',
      { class: 'fields' },
      ...field('new-practitioner-id', t('practitionerId'), id, t('practitionerIdHint')),
      ...field('new-practitioner-name', t('personName'), name),
      ...field('new-practitioner-licence', t('licenceNumber'), licence),
      ...field('new-practitioner-department', t('deptPlain'), department),
      ...field('new-practitioner-profession', t('profession'), profession),
    ),
    h('div', { class: 'buttons' }, submit),
    error,
  );
  trackEditing(form);
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    try {
      if (!/^[A-Za-z0-9._:@-]+$/.test(id.value.trim())) throw new FieldError(id, t('practitionerIdHint'));
      if (name.value.trim().length < 2) throw new FieldError(name, tf('textTooShort', { field: t('personName'), min: 2 }));
      if (licence.value.trim().length < 6) throw new FieldError(licence, tf('textTooShort', { field: t('licenceNumber'), min: 6 }));
    } catch (err) {
      showFailure(err, error);
      return;
    }
    submit.disabled = true;
    error.replaceChildren();
    api('POST', '/api/directory/practitioners', {
      practitionerId: id.value.trim(),
      name: name.value.trim(),
      licenceNumber: licence.value.trim(),
      institutionId,
      department: department.value,
      profession: profession.value as Profession,
    }).then(
      async () => {
        submit.disabled = false;
        say('ok', tf('registered', { name: name.value.trim() }));
        form.reset();
        delete form.dataset['editing'];
        await reload();
      },
      (err: unknown) => {
        submit.disabled = false;
        showFailure(err, error);
      },
    );
  });
  return h('section', { class: 'panel block' }, h('h2', {}, t('registerHeading')), h('p', { class: 'muted' }, t('registerExplain')), form);
}
