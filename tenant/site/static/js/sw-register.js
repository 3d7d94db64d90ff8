/* Registers Sportello's service worker (/sw.js, scope "/") on the
   citizen pages of a Comune: it keeps the shell and an offline page, and
   shows the Comune's push notifications. The layout loads this file only
   on citizen pages; the check below keeps the back office out even if a
   page of /gestione loads it by mistake. Pages work the same without it. */
(function () {
  'use strict';
  if (!('serviceWorker' in navigator)) {
    return;
  }
  var p = location.pathname;
  if (p === '/gestione' || p.indexOf('/gestione/') === 0) {
    return;
  }
  function register() {
    navigator.serviceWorker.register('/sw.js', { scope: '/', updateViaCache: 'none' }).catch(function () {
      /* No worker (private mode, an old browser): the site works as before. */
    });
  }
  if (document.readyState === 'complete') {
    register();
  } else {
    window.addEventListener('load', register);
  }
})();
