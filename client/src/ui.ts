/** Tiny DOM helpers: the client has few pages and no framework. */
import { currentLang, departmentName, errorText, labelled, paren, positionName, professionName, roleName, setLang, t } from './i18n.ts';
import { ApiError, adminsInstitution, isBackOffice, isPractitioner, seesApprovals, serverInfo, session, type StoredSession } from './api.ts';
import { SignalingError } from './signaling.ts';
// A cycle (the directory helpers use this module's DOM helpers); neither uses the other while loading.
import { myPractitioner } from './consultation/common.ts';

type Attrs = Record<string, string | number | boolean | EventListener | undefined>;
type Child = Node | string | null | undefined | false;

export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Attrs = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === false) continue;
    if (typeof value === 'function') el.addEventListener(key.replace(/^on/, '').toLowerCase(), value);
    else if (value === true) el.setAttribute(key, '');
    else el.setAttribute(key, String(value));
  }
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    el.append(typeof child === 'string' ? document.createTextNode(child) : child);
  }
  return el;
}

/** Page frame: header with product name, navigation, identity and language switch. */
export function layout(title: string, ...content: Child[]): HTMLElement {
  const devLink = h('a', { href: '/dev-login', hidden: true }, t('devLogin'));
  void serverInfo().then((i) => {
    devLink.hidden = !i.devLogin;
  });
  const header = h(
    'header',
    { class: 'topbar' },
    h('a', { class: 'brand', href: '/' }, t('appName')),
    h('nav', {}, ...navLinks(), devLink),
    whoBox,
    h(
      'button',
      {
        class: 'lang',
        type: 'button',
        onclick: () => {
          setLang(currentLang() === 'en' ? 'zh-CN' : 'en');
          location.reload();
        },
      },
      t('langSwitch'),
    ),
  );
  refreshWho();
  document.title = `${title} · ${t('appName')}`;
  return h('div', { class: 'page' }, header, h('main', {}, h('h1', {}, title), ...content));
}

/**
 * Practitioners: consultations, the room and the self-test (pharmacists also
 * prescription review, once the directory says they are one). Back-office
 * staff: recordings review and approvals; an institution's administrator
 * also its consultation inbox and practitioners.
 */
function navLinks(): HTMLElement[] {
  const who = session.get();
  const here = (href: string) => (location.pathname === href || (href === '/consultations' && location.pathname === '/consultation') ? 'page' : undefined);
  const link = (href: string, text: string) => h('a', { href, 'aria-current': here(href) }, text);
  if (!isBackOffice(who)) {
    if (!isPractitioner(who)) return [link('/room', t('room')), link('/selftest', t('selfTest'))];
    const links = [link('/consultations', t('consultations')), link('/room', t('room')), link('/selftest', t('selfTest'))];
    const pharmacy = link('/pharmacy', t('pharmacy'));
    pharmacy.hidden = location.pathname !== '/pharmacy';
    if (pharmacy.hidden) void practitionerProfession(who).then((p) => (pharmacy.hidden = p !== 'pharmacist'));
    return [...links, pharmacy];
  }
  // Back-office accounts never join a live room.
  const links = adminsInstitution(who) ? [link('/consultations', t('consultations')), link('/directory', t('directoryTitle'))] : [];
  links.push(link('/review', t('review')));
  if (seesApprovals(who)) links.push(link('/approvals', t('approvals')));
  return links;
}

/** The signed-in practitioner's profession, from the directory (null when not found). */
async function practitionerProfession(who: StoredSession): Promise<string | null> {
  return (await myPractitioner(who).catch(() => null))?.profession ?? null;
}

const whoBox = h('div', { class: 'who', 'data-testid': 'who' });

/** Shows who is signed in (and a sign-out button); call after the session changes. */
export function refreshWho(): void {
  const who = session.get();
  if (!who) {
    whoBox.replaceChildren(t('notSignedIn'));
    return;
  }
  const staff = [who.department ? departmentName(who.department) : '', ...(who.positions ?? []).map(positionName)].filter(Boolean).join(' · ');
  const name = h('span', {}, labelled(t('signedInAs'), `${who.displayName ?? who.userId}${paren(roleName(who.role))}`));
  // A practitioner signed in without a name: the directory's verified name.
  if (!who.displayName && isPractitioner(who)) {
    void myPractitioner(who).then((p) => {
      if (p) name.textContent = labelled(t('signedInAs'), `${p.name}${paren(professionName(p.profession))}`);
    }, () => undefined);
  }
  whoBox.replaceChildren(
    name,
    ...(staff ? [h('span', { class: 'who-staff' }, staff)] : []),
    h(
      'button',
      {
        type: 'button',
        class: 'link',
        onclick: () => {
          session.clear();
          location.assign('/');
        },
      },
      t('signOut'),
    ),
  );
}

export function mount(el: HTMLElement): void {
  const app = document.getElementById('app');
  if (!app) throw new Error('#app is missing');
  app.replaceChildren(el);
}

export function notice(kind: 'info' | 'error' | 'ok', text: string): HTMLElement {
  return h('p', { class: `notice ${kind}`, role: kind === 'error' ? 'alert' : 'status' }, text);
}

/** What to tell a person about a failure: the translated message of a coded error, or the browser's. */
export function errorMessage(err: unknown): string {
  if (err instanceof SignalingError || err instanceof ApiError) return `${errorText(err.body.code)}（${err.body.code}）`;
  if (err instanceof DOMException && err.name === 'NotAllowedError') return t('permissionDenied');
  if (err instanceof DOMException) return `${t('noMedia')}${err.message}`;
  return err instanceof Error ? err.message : String(err);
}
