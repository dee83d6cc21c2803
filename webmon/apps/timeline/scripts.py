"""The timeline's JavaScript: hover formatters and the clicks that open a tile or export the
window.  Bokeh escapes what a hover formatter returns; URLs are relative, so they work
behind a proxy prefix."""

# Hover: a string id shown as its string (Bokeh escapes what a formatter returns).
STRING = """const t = strings.data.text;
return (value >= 0 && value < t.length) ? t[value] : '#' + value;"""
THREAD = """const t = threads.data.text;
return (value >= 0 && value < t.length) ? t[value] : 'thread ' + value;"""
ARGS = """
const i = special_vars.index; const d = source.data; const t = strings.data.text;
const parts = [];
for (let k = 0; k < 4; k++) {
  const key = d['key' + k][i];
  if (key > 0) { parts.push((key < t.length ? t[key] : '#' + key) + '=' + d['value' + k][i]); }
}
return parts.length ? parts.join(', ') : '–';
"""
# A click on a chunk load opens its tile in the Tiles tab (relative URL: works behind a
# proxy prefix).
OPEN_TILE = """
const i = source.selected.indices.length ? source.selected.indices[0] : -1;
source.selected.indices = [];
if (i < 0) { return; }
const d = source.data; const t = strings.data.text;
if (d.count[i] !== 1 || t[d.category[i]] !== chunk_load) { return; }
const args = {};
for (let k = 0; k < 4; k++) {
  if (d['key' + k][i] > 0) { args[t[d['key' + k][i]]] = d['value' + k][i]; }
}
if (!['layer', 'level', 'row', 'col'].every((k) => k in args)) { return; }
const q = new URLSearchParams();
if (context.data.producer[0]) { q.set('producer', context.data.producer[0]); }
q.set('layer', args.layer); q.set('level', args.level); q.set('tile', args.row + ',' + args.col);
window.location.href = 'tiles?' + q.toString();
"""
OPEN_ROW = """
const i = source.selected.indices.length ? source.selected.indices[0] : -1;
if (i >= 0 && source.data.tile[i]) { window.location.href = source.data.tile[i]; }
"""
EXPORT = """
const q = new URLSearchParams();
if (context.data.producer[0]) { q.set('producer', context.data.producer[0]); }
q.set('seconds', String(context.data.window[0]));
const a = document.createElement('a');
a.href = 'timeline/trace.json?' + q.toString();
a.download = '';
document.body.appendChild(a); a.click(); a.remove();
"""
