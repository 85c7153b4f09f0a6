import './styles.css';
import { currentLang, setLang } from './i18n.ts';
import { devLoginPage } from './pages/devLogin.ts';
import { homePage } from './pages/home.ts';
import { roomPage } from './pages/room.ts';
import { selfTestPage } from './pages/selfTest.ts';

setLang(currentLang());

const routes: Record<string, () => void> = {
  '/': homePage,
  '/selftest': selfTestPage,
  '/dev-login': devLoginPage,
  '/room': roomPage,
};

(routes[location.pathname] ?? homePage)();
