/**
 * Development sign-in: mints a token through `/api/dev/token` (a route that
 * exists only when the server runs in development mode).
 */
import { ApiError, api, serverInfo, session } from '../api.ts';
import { currentLang, errorText, roleName, t } from '../i18n.ts';
import { h, layout, mount, notice, refreshWho } from '../ui.ts';
import { ROLES, type Role } from '../../../server/protocol/roles.ts';

export function devLoginPage(): void {
  const result = h('div', { 'aria-live': 'polite' });
  const role = h('select', { name: 'role', id: 'role' }, ...ROLES.map((r) => h('option', { value: r }, roleName(r))));
  const userId = h('input', { name: 'userId', id: 'userId', required: true, value: 'dr-li', autocomplete: 'off' });
  const roomId = h('input', { name: 'roomId', id: 'roomId', value: '', autocomplete: 'off' });
  const displayName = h('input', { name: 'displayName', id: 'displayName', value: '' });

  const form = h(
    'form',
    { class: 'panel form' },
    h('label', { for: 'role' }, t('role')),
    role,
    h('label', { for: 'userId' }, t('userId')),
    userId,
    h('label', { for: 'roomId' }, t('roomId')),
    roomId,
    h('label', { for: 'displayName' }, t('displayName')),
    displayName,
    h('button', { type: 'submit', class: 'primary' }, t('getToken')),
  );

  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const body = {
      role: role.value as Role,
      userId: userId.value.trim(),
      ...(roomId.value.trim() ? { roomId: roomId.value.trim() } : {}),
      ...(displayName.value.trim() ? { displayName: displayName.value.trim() } : {}),
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
        });
        refreshWho();
        result.replaceChildren(
          notice('ok', `${t('tokenReady')} ${new Date(expiresAt * 1000).toLocaleString(currentLang())}`),
          h('p', {}, h('a', { href: '/selftest', class: 'button' }, t('goSelfTest'))),
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
