// Keep the newest message (or the approval card) in view.
(function () {
  "use strict";
  var card = document.querySelector("[data-testid=chat-approval-card]");
  var thread = document.getElementById("thread");
  if (card) { card.scrollIntoView({ block: "center" }); }
  else if (thread && thread.lastElementChild) { thread.lastElementChild.scrollIntoView({ block: "end" }); }
})();
