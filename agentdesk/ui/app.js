// app.js: starts the page: who is signed in, then the view their role has (#desk for
// agents, #console for supervisors; an administrator has both).
(function (global) {
  'use strict';

  function views() {
    const r = App.me.role;
    const v = [];
    if (r === 'agent' || r === 'admin') v.push('desk');
    if (r === 'supervisor' || r === 'reviewer' || r === 'admin') v.push('console');
    return v;
  }

  function show() {
    const have = views();
    let v = global.location.hash.slice(1);
    if (have.indexOf(v) < 0) v = have[0] || 'desk';
    document.getElementById('desk').hidden = v !== 'desk';
    document.getElementById('console').hidden = v !== 'console';
    App.header(v);
    if (v === 'desk') Desk.start();
    else Wallboard.start();
    document.body.dataset.view = v;
  }

  async function main() {
    I18N.apply();
    App.wireChrome();
    try {
      await App.signIn();
    } catch (e) {
      return; // api() has sent the page to the sign-in form
    }
    show();
    global.addEventListener('hashchange', show);
    document.body.dataset.ready = '1';
  }

  main();
})(window);
