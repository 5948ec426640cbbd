// Saved ipywidgets on a page opened from disk: two gaps between html-manager 1.0 and this site.
// 1. Its bundle looks for its fonts (the Play button's icons) in the folder of the AMD module that
//    asks for them: point every such module, and its webpack runtime, at the vendored dist/ folder.
// 2. Its widgets typeset their labels through MathJax 2's MathJax.Hub.Queue; the site runs MathJax 3,
//    which has no Hub: forward such calls to MathJax 3's typesetPromise.
(function () {
  var dist = new URL("vendor/html-manager/dist/", document.currentScript.src).href;
  window.__jupyter_widgets_assets_path__ = dist;
  if (window.requirejs) {  // the modules it defines take their folder from these paths
    var folder = dist.replace(/\/$/, "");
    window.requirejs.config({paths: {"@jupyter-widgets": folder, "@jupyter-widgets/html-manager/dist": folder}});
  }
  function hubShim() {
    var mj = window.MathJax;
    if (mj && !mj.Hub && mj.typesetPromise) {
      mj.Hub = {Queue: function (command) {
        var element = command && command[2];
        if (element) mj.typesetPromise([element]).catch(function (err) { console.warn(err); });
      }};
    }
  }
  document.addEventListener("DOMContentLoaded", hubShim);
  window.addEventListener("load", hubShim);
})();
