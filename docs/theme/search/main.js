// Site search with no web worker and no XMLHttpRequest, so that it also works on pages opened
// from disk (file://): lunr and the index (search/search_index.js, written by docs/hooks.py) load
// as plain scripts the first time the search box is used, and the index is built then.
(function () {
  var index = null;
  var documents = {};
  var minLength = 3;

  function siteUrl(path) {
    return base_url.replace(/\/$/, '') + '/' + path;
  }

  function loadScript(path, then) {
    var script = document.createElement('script');
    script.src = siteUrl(path);
    script.onload = then;
    document.head.appendChild(script);
  }

  function escapeHtml(value) {
    return value.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
  }

  function buildIndex() {
    var data = window.mkdocs_search_index;
    if (data.config && data.config.separator) {
      lunr.tokenizer.separator = new RegExp(data.config.separator);
    }
    if (data.config && data.config.min_search_length) {
      minLength = data.config.min_search_length;
    }
    index = lunr(function () {
      this.field('title');
      this.field('text');
      this.ref('location');
      for (var i = 0; i < data.docs.length; i++) {
        this.add(data.docs[i]);
        documents[data.docs[i].location] = data.docs[i];
      }
    });
  }

  function withIndex(then) {
    if (index) {
      then();
    } else {
      loadScript('search/lunr.js', function () {
        loadScript('search/search_index.js', function () {
          buildIndex();
          then();
        });
      });
    }
  }

  function showResults(query) {
    var results = document.getElementById('mkdocs-search-results');
    var html = '';
    if (query.length >= minLength) {
      var found = index.search(query);
      for (var i = 0; i < found.length; i++) {
        var doc = documents[found[i].ref];
        html += '<article><h3><a href="' + siteUrl(doc.location) + '">' + escapeHtml(doc.title) +
          '</a></h3><p>' + escapeHtml(doc.text.substring(0, 200)) + '</p></article>';
      }
      if (!found.length) {
        html = '<p>' + escapeHtml(results.getAttribute('data-no-results-text') || 'No results found') + '</p>';
      }
    }
    results.innerHTML = html;
  }

  function search() {
    var query = document.getElementById('mkdocs-search-query').value;
    withIndex(function () { showResults(query); });
  }

  var input = document.getElementById('mkdocs-search-query');
  if (input) {
    input.addEventListener('keyup', search);
    var term = new URLSearchParams(window.location.search).get('q');
    if (term) {
      input.value = term;
      search();
    }
  }
})();
