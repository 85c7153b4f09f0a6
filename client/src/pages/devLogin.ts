/**
 * Development sign-in: mints a token through `/api/dev/token` (a route that
 * exists only when the server runs in development mode).
 */
import { ApiError, adminsInstitution, api, isBackOffice, isPractitioner, serverInfo, session } from '../api.ts';
import { DEPARTMENTS, POSITIONS, currentLang, departmentName, errorText, paren, positionName, roleName, t } from '../i18n.ts';
import { h, layout, mount, notice, refreshWho } from '../ui.ts';
import { BACK_OFFICE_ROLES, ROLES, type Role } from '../../../server/protocol/roles.ts';

/** The demonstration directory's institutions (server/domain/directory/demoDirectory.ts). */
const DEMO_INSTITUTIONS = ['xc-village', 'qx-county', 'sy-tertiary'] as const;

function institutionDemoName(id: (typeof DEMO_INSTITUTIONS)[number]): string {
  return { 'xc-village': t('demoVillage'), 'qx-county': t('demoCounty'), 'sy-tertiary': t('demoTertiary') }[id];
}

export function devLoginPage(): void {
  const result = h('div', { 'aria-live': 'polite' });
  const role = h('select', { name: 'role', id: 'role' }, ...ROLES.map((r) => h('option', { value: r }, roleName(r))));
  const userId = h('input', { name: 'userId', id: 'userId', required: true, value: 'dr-li', autocomplete: 'off' });
  const roomId = h('input', { name: 'roomId', id: 'roomId', value: '', autocomplete: 'off', 'aria-describedby': 'room-hint' });
  const roomHint = h('small', { class: 'hint span2', id: 'room-hint' }, t('roomIdPractitionerHint'));
  const displayName = h('input', { name: 'displayName', id: 'displayName', value: '' });
  // Institution administrators act for one institution (the `inst` claim); the demonstration directory's ids are offered.
  const institution = h('input', { name: 'institutionId', id: 'institutionId', value: '', autocomplete: 'off', list: 'institution-ids', 'aria-describedby': 'institution-hint' });
  const institutionIds = h('datalist', { id: 'institution-ids' }, ...DEMO_INSTITUTIONS.map((i) => h('option', { value: i }, institutionDemoName(i))));
  const institutionFields = [
    h('label', { for: 'institutionId' }, t('institutionIdLabel')),
    institution,
    h('small', { class: 'hint span2', id: 'institution-hint' }, t('institutionIdHint')),
    institutionIds,
  ];
  // Back-office staff: department and positions, as the staff directory would put them in the token.
  const department = h(
    'select',
    { name: 'department', id: 'department' },
    h('option', { value: '' }, t('noneMark')),
    ...DEPARTMENTS.map((d) => h('option', { value: d }, `${departmentName(d)}${paren(d)}`)),
  );
  const positionBoxes = POSITIONS.map((p) => h('input', { type: 'checkbox', name: 'positions', value: p, id: `position-${p}` }));
  const positions = h(
    'fieldset',
    { class: 'checkboxes', id: 'positions', 'aria-describedby': 'back-office-hint' },
    h('legend', { class: 'visually-hidden' }, t('positions')),
    ...positionBoxes.map((box) => h('label', { for: box.id }, box, positionName(box.value))),
  );
  const backOffice = [
    h('label', { for: 'department' }, t('department')),
    department,
    h('span', { class: 'label' }, t('positions')),
    positions,
    h('small', { class: 'hint span2', id: 'back-office-hint' }, t('backOfficeFields')),
  ];
  const showBackOffice = () => {
    const on = (BACK_OFFICE_ROLES as readonly string[]).includes(role.value);
    for (const el of backOffice) el.hidden = !on;
    for (const el of institutionFields) el.hidden = role.value !== 'institution_admin';
    // Practitioners need no room to work on consultations; say so where the room is asked for.
    roomHint.hidden = role.value !== 'host' && role.value !== 'expert';
  };
  role.addEventListener('change', showBackOffice);

  const form = h(
    'form',
    { class: 'panel form' },
    h('label', { for: 'role' }, t('role')),
    role,
    h('label', { for: 'userId' }, t('userId')),
    userId,
    h('label', { for: 'roomId' }, t('roomId')),
    roomId,
    roomHint,
    h('label', { for: 'displayName' }, t('displayName')),
    displayName,
    ...institutionFields,
    ...backOffice,
    h('button', { type: 'submit', class: 'primary' }, t('getToken')),
  );

  showBackOffice();

  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const staff = (BACK_OFFICE_ROLES as readonly string[]).includes(role.value);
    const held = staff ? positionBoxes.filter((b) => b.checked).map((b) => b.value) : [];
    const body = {
      role: role.value as Role,
      userId: userId.value.trim(),
      ...(roomId.value.trim() ? { roomId: roomId.value.trim() } : {}),
      ...(displayName.value.trim() ? { displayName: displayName.value.trim() } : {}),
      ...(staff && department.value ? { department: department.value } : {}),
      ...(held.length > 0 ? { positions: held } : {}),
      ...(role.value === 'institution_admin' && institution.value.trim() ? { institutionId: institution.value.trim() } : {}),
    };
    api<{ token: string; expiresAt: number }>('POST', '/api/dev/token', body)
      .then(({ token, expiresAt }) => {
        session.set({
          token,
          expiresAt,
          userId: body.userId,
          role: body.role,
          displayName: body.displayName ?? null,
          roomId: body.roomId ?? null,
          department: body.department ?? null,
          positions: body.positions ?? [],
          institutionId: body.institutionId ?? null,
        });
        refreshWho();
        // Back-office staff go straight to their work: approvers to the queue, others to the recordings.
        const now = session.get();
        if (isBackOffice(now)) {
          location.assign(adminsInstitution(now) ? '/consultations' : now.role === 'approver' ? '/approvals' : '/review');
          return;
        }
        result.replaceChildren(
          notice('ok', `${t('tokenReady')} ${new Date(expiresAt * 1000).toLocaleString(currentLang())}`),
          h(
            'p',
            { class: 'buttons' },
            isPractitioner(now) && !now.roomId ? h('a', { href: '/consultations', class: 'button', 'data-testid': 'go-consultations' }, t('goConsultations')) : null,
            h('a', { href: '/selftest', class: isPractitioner(now) && !now.roomId ? 'button secondary' : 'button' }, t('goSelfTest')),
          ),
        );
      })
      .catch((err: unknown) => {
        const text = err instanceof ApiError ? `${errorText(err.body.code)}（${err.body.code}）` : String(err);
        result.replaceChildren(notice('error', text));
      });
  });

  mount(layout(t('devLogin'), h('p', { class: 'intro' }, t('devLoginIntro')), form, result));
  void serverInfo().then((info) => {
    if (!info.devLogin) form.replaceWith(notice('error', t('devLoginUnavailable')));
  });
}
