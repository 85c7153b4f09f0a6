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

export function homePage(): void {
  const status = h('p', { class: 'status', 'data-testid': 'server-status' }, t('statusUnknown'));
  const list = h('ul', { class: 'checks' });
  mount(
    layout(
      t('tagline'),
      h(
        'section',
        { class: 'cards' },
        h('a', { class: 'card', href: '/room' }, h('strong', {}, t('room')), h('span', {}, t('roomIntro'))),
        h('a', { class: 'card', href: '/selftest' }, h('strong', {}, t('selfTest')), h('span', {}, t('selfTestIntro'))),
        h('a', { class: 'card', href: '/dev-login' }, h('strong', {}, t('devLogin')), h('span', {}, t('devLoginIntro'))),
      ),
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
