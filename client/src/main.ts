import './styles.css';
import { currentLang, setLang } from './i18n.ts';
import { approvalsPage } from './pages/approvals.ts';
import { consultationPage } from './pages/consultation.ts';
import { consultationsPage } from './pages/consultations.ts';
import { directoryPage } from './pages/directory.ts';
import { pharmacyPage } from './pages/pharmacy.ts';
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
  '/consultations': consultationsPage,
  '/consultation': consultationPage,
  '/pharmacy': pharmacyPage,
  '/directory': directoryPage,
};

(routes[location.pathname] ?? homePage)();
