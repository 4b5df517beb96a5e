// login.js: the sign-in form (POST /api/auth/login), and the one-time password change
// (POST /api/auth/password) a new account must make before anything else.
(function (global) {
  'use strict';

  const $ = (id) => document.getElementById(id);
  const params = new URLSearchParams(global.location.search);
  let mustChange = params.get('why') === 'must-change';

  function next() {
    const n = params.get('next') || '/';
    // Only a path of this site: never a way out to another origin.
    return /^\/(?!\/)/.test(n) ? n : '/';
  }

  function err(s) { $('err').textContent = s || ''; }

  function paint() {
    $('change').hidden = !mustChange;
    $('submit').textContent = mustChange ? t('login.change') : t('login.submit');
  }

  async function submit(ev) {
    ev.preventDefault();
    err('');
    $('submit').disabled = true;
    try {
      const me = await App.api('POST', '/api/auth/login', { user: $('user').value.trim(), password: $('password').value });
      App.csrf = me.csrf || '';
      if (me.must_change_password) {
        if (!mustChange || !$('new-password').value) {
          mustChange = true;
          paint();
          $('new-password').focus();
          return;
        }
        await App.api('POST', '/api/auth/password', { current: $('password').value, new: $('new-password').value });
      }
      global.location.replace(next());
    } catch (e) {
      if (e.status === 401) err(t('login.wrong'));
      else if (e.status === 429) err(t('login.limited'));
      else err(t('login.failed', { msg: e.message }));
    } finally {
      $('submit').disabled = false;
    }
  }

  I18N.apply();
  I18N.onChange(paint);
  $('lang').addEventListener('click', () => I18N.toggle());
  if (params.get('why') === 'expired') err(t('login.expired'));
  paint();
  $('login-form').addEventListener('submit', submit);
  App.loadConfig();
})(window);
