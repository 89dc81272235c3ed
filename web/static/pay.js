// 3-D Secure: the payer's bank authenticates them with the intent's client secret, handed out once by the
// payment server. In test mode the payment server offers this step itself (as its browser script does).
(function () {
  "use strict";
  var box = document.getElementById("three-d-secure");
  if (!box) { return; }
  var status = document.getElementById("three-d-secure-status");
  box.addEventListener("click", function (event) {
    var button = event.target.closest("button[data-success]");
    if (!button) { return; }
    status.textContent = "正在与银行验证…";
    var url = box.dataset.base + "/v1/payment_intents/" + encodeURIComponent(box.dataset.intent) +
      "/_authenticate?success=" + button.dataset.success;
    fetch(url, {
      method: "POST",
      headers: {"content-type": "application/json"},
      body: JSON.stringify({key: "pk_test_browser", client_secret: box.dataset.secret})
    }).then(function (response) {
      if (!response.ok) { throw new Error(String(response.status)); }
      window.location.assign(box.dataset.done);
    }).catch(function () {
      status.textContent = "无法连接银行验证，请稍后重试。";
    });
  });
})();
