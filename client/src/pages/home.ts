import { adminsInstitution, isBackOffice, isPractitioner, seesApprovals, session } from '../api.ts';
import { t } from '../i18n.ts';
import { h, layout, mount } from '../ui.ts';

interface Readiness {
  status: string;
  checks: Record<string, { ok: boolean; latencyMs: number }>;
}

const checkNames: Record<string, () => string> = {
  database: () => t('checkDatabase'),
  objectStore: () => t('checkObjectStore'),
  mediaWorkers: () => t('checkMediaWorkers'),
};

/** Where a person can go from here: the live room for clinicians and patients, review and approvals for back-office staff. */
function cards(): HTMLElement[] {
  const card = (href: string, title: string, text: string) => h('a', { class: 'card', href }, h('strong', {}, title), h('span', {}, text));
  const who = session.get();
  const dev = card('/dev-login', t('devLogin'), t('devLoginIntro'));
  if (isBackOffice(who)) {
    return [
      ...(adminsInstitution(who)
        ? [card('/consultations', t('consultations'), t('consultationsCardIntroAdmin')), card('/directory', t('directoryTitle'), t('directoryCardIntro'))]
        : []),
      card('/review', t('review'), t('reviewCardIntro')),
      ...(seesApprovals(who) ? [card('/approvals', t('approvals'), t('approvalsCardIntro'))] : []),
      dev,
    ];
  }
  const practitioner = isPractitioner(who) ? [card('/consultations', t('consultations'), t('consultationsCardIntro'))] : [];
  return [...practitioner, card('/room', t('room'), t('roomIntro')), card('/selftest', t('selfTest'), t('selfTestIntro')), dev];
}

export function homePage(): void {
  const status = h('p', { class: 'status', 'data-testid': 'server-status' }, t('statusUnknown'));
  const list = h('ul', { class: 'checks' });
  mount(
    layout(
      t('tagline'),
      h('section', { class: 'cards' }, ...cards()),
      h('section', { class: 'panel' }, h('h2', {}, t('serverStatus')), status, list),
    ),
  );

  // /readyz answers 503 with the same body when something is down.
  fetch('/readyz')
    .then(async (res) => (await res.json()) as Readiness)
    .then((r) => {
      status.textContent = r.status === 'ready' ? t('statusReady') : t('statusNotReady');
      status.className = `status ${r.status === 'ready' ? 'ok' : 'bad'}`;
      list.replaceChildren(
        ...Object.entries(r.checks).map(([name, c]) =>
          h('li', { class: c.ok ? 'ok' : 'bad' }, `${checkNames[name]?.() ?? name}：${c.ok ? t('passed') : t('failed')}`),
        ),
      );
    })
    .catch(() => {
      status.textContent = t('statusNotReady');
      status.className = 'status bad';
    });
}
