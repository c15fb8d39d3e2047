import { wireSwitch, t } from './i18n.js';
import { api, session, afterLogin, ApiError } from './api.js';
import { unlock } from './alarm.js';

wireSwitch();
const form = document.getElementById('login');
const error = document.getElementById('error');

session().then((s) => {
  if (s.user) window.location.replace(afterLogin(s.home));
}, () => undefined);

/** Sign-in at capacity (503) is tried again by itself, as often as this, each after the wait the server asks. */
const BUSY_TRIES = 5;
let retryTimer;

async function signIn(tries) {
  clearTimeout(retryTimer);
  error.textContent = '';
  const data = new window.FormData(form);
  try {
    const s = await api('POST', '/api/auth/login', { username: data.get('username'), password: data.get('password') });
    window.location.replace(afterLogin(s.home));
  } catch (err) {
    if (!(err instanceof ApiError)) {
      error.textContent = t('error.offline');
      return;
    }
    const wait = err.retryAfter ?? 2;
    if (err.status === 503 && tries < BUSY_TRIES) {
      // The server did not look at the password: it was busy (a crowd signing in at a shift
      // change). The operator is told so, and the page tries again when the server said to.
      error.textContent = t('login.busy', { s: wait });
      retryTimer = setTimeout(() => void signIn(tries + 1), wait * 1000);
      return;
    }
    error.textContent = err.status === 429 ? t('login.limited', { s: wait }) : err.status === 401 ? t('login.failed') : err.status === 503 ? t('login.busyGaveUp') : t('error.offline');
  }
}

form.addEventListener('submit', (e) => {
  e.preventDefault();
  // The click that logs in is the gesture browsers ask for before a page may sound an alarm.
  unlock();
  void signIn(1);
});
