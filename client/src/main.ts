import './styles.css';
import { currentLang, setLang } from './i18n.ts';
import { approvalsPage } from './pages/approvals.ts';
import { devLoginPage } from './pages/devLogin.ts';
import { homePage } from './pages/home.ts';
import { playerPage } from './pages/player.ts';
import { reviewPage } from './pages/review.ts';
import { roomPage } from './pages/room.ts';
import { selfTestPage } from './pages/selfTest.ts';

setLang(currentLang());

const routes: Record<string, () => void> = {
  '/': homePage,
  '/selftest': selfTestPage,
  '/dev-login': devLoginPage,
  '/room': roomPage,
  '/review': reviewPage,
  '/approvals': approvalsPage,
  '/player': playerPage,
};

(routes[location.pathname] ?? homePage)();
