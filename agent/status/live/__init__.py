"""`status --serve`: the registry as a live web page. `mirror` holds the keys, `snapshot` makes the page's model
of them and answers its queries (both pure), `follower` keeps the mirror true with one watch per root,
`server` serves the page (`page.html`, `page.js`, `page.css`, no build step) and its JSON."""
