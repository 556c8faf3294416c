// The loader snippet: paste before the async script tag. It defines window.waymark as a stub
// that queues every call (each returns a Promise of the real call's result) until
// waymark.min.js arrives and replays them in order.
;(function (w) {
  if (w.waymark) return
  var q = []
  var stub = (w.waymark = { q: q })
  'page track identify alias reset consent flush user ready shutdown'.split(' ').forEach(function (m) {
    stub[m] = function () {
      var args = [].slice.call(arguments)
      return new Promise(function (resolve) {
        q.push([m, args, resolve])
      })
    }
  })
})(window)
