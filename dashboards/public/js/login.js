import { wireSwitch, t } from './i18n.js';
import { api, session, afterLogin, ApiError } from './api.js';
import { unlock } from './alarm.js';

wireSwitch();
const form = document.getElementById('login');
const error = document.getElementById('error');

session().then((s) => {
  if (s.user) window.location.replace(afterLogin(s.home));
}, () => undefined);

form.addEventListener('submit', async (e) => {
  e.preventDefault();
  error.textContent = '';
  // The click that logs in is the gesture browsers ask for before a page may sound an alarm.
  unlock();
  const data = new window.FormData(form);
  try {
    const s = await api('POST', '/api/auth/login', { username: data.get('username'), password: data.get('password') });
    window.location.replace(afterLogin(s.home));
  } catch (err) {
    error.textContent = err instanceof ApiError && err.status === 429 ? t('login.limited') : err instanceof ApiError && err.status === 401 ? t('login.failed') : t('error.offline');
  }
});
