"""What a studio tab holds of the browser's connections to the studio, and the page's share of keeping it small.

A browser keeps at most 6 HTTP/1.1 connections to one host (per profile, across its tabs).  A studio tab
holds Gradio's heartbeat all the time, and its event stream (``queue/data``) while any of its events is
pending; everything else (a new tab's page and scripts, an upload, a click's ``queue/join``) waits for one
of the 6.

**A stream that was never closed (Gradio 6.31's client, found by a full-suite failure).**  The client opens
the event stream after the answer to an event's ``queue/join`` arrives.  That answer and the stream travel
on different connections: on a busy machine the stream may already have delivered the event's result, seen
the session's last pending event finish and been closed by the server before the join's answer is read.
The client then keeps the buffered result, marks the event unclosed and opens a *new* stream for it.  The
server has nothing pending for that session, so the new stream waits (sending a heartbeat every 15 s) until
some later event of the tab finishes, which for an idle tab is never.  Each such tab holds 2 connections;
the 1-second banner refresh while a model loads made it likely, and 4 tabs left no connection for a 5th tab
to load its page (``test_five_studio_tabs_warn_and_closing_one_clears_it``, 120 s, reproduced on this
machine with both cores busy: server side, the stuck sessions had no pending event at all).

:data:`STREAMS_JS` runs in the page's head, before Gradio's client, and wraps ``fetch``: it counts the
events this page joined (sent and not answered, or answered and not seen to finish in a stream) and, when
the client asks for an event stream while none is outstanding, answers it at once with the ``close_stream``
message the server would have sent, without opening a connection.  With an event outstanding, or for
anything it does not recognise, the request goes to the server unchanged, so it can only ever save a
connection that would have waited for nothing.
"""

from __future__ import annotations

STREAMS_JS = """<script>
(() => {
  if (window.__i2vStreams) return;
  const real = window.fetch.bind(window);
  const state = window.__i2vStreams = {inflight: 0, open: new Set(), done: new Set(), saved: 0};
  const urlOf = (input) => typeof input === 'string' ? input : (input && input.url) || String(input);
  const methodOf = (input, init) => ((init && init.method) || (input && input.method) || 'GET').toUpperCase();
  // an event seen to finish before the answer to its join arrived waits in `done` for that answer
  const finished = (id) => { if (!state.open.delete(id)) state.done.add(id); };
  const watch = (response) => {  // the stream as it was, read on the side for the events that finish in it
    if (!response.body) return response;
    const decoder = new TextDecoder();
    let rest = '';
    const seen = new TransformStream({transform(chunk, ctl) {
      ctl.enqueue(chunk);
      rest += decoder.decode(chunk, {stream: true});
      const lines = rest.split('\\n');
      rest = lines.pop();
      for (const line of lines) {
        if (!line.startsWith('data:')) continue;
        try {
          const m = JSON.parse(line.slice(5));
          if (m && m.event_id && m.msg === 'process_completed') finished(m.event_id);
        } catch (e) { /* not JSON: not ours to read */ }
      }
    }});
    return new Response(response.body.pipeThrough(seen),
                        {status: response.status, statusText: response.statusText, headers: response.headers});
  };
  window.fetch = async function (input, init) {
    const url = urlOf(input), method = methodOf(input, init);
    if (method === 'POST' && /\\/queue\\/join(\\?|$)/.test(url)) {
      state.inflight += 1;
      try {
        const response = await real(input, init);
        try {
          const body = await response.clone().json();
          const id = body && body.event_id;
          if (id && !state.done.delete(id)) state.open.add(id);
        } catch (e) { /* no event id: nothing to wait for */ }
        return response;
      } finally {
        state.inflight -= 1;
      }
    }
    if (method === 'GET' && /\\/queue\\/data\\?/.test(url)) {
      if (state.inflight === 0 && state.open.size === 0) {
        state.saved += 1;  // every event of this page has finished: the server has nothing to send
        return new Response('data: {"msg": "close_stream"}\\n\\n',
                            {status: 200, headers: {'Content-Type': 'text/event-stream'}});
      }
      return watch(await real(input, init));
    }
    return real(input, init);
  };
})();
</script>"""


# The studio tabs of this browser count themselves over a BroadcastChannel (each says hello every 2 s and
# goodbye when it goes; one silent for 2 minutes, a background tab being throttled to a timer a minute, is
# gone).  From 5 tabs on, each shows the warning: Chromium keeps 6 connections to one host and a tab holds
# Gradio's heartbeat plus, while it follows a job, its event stream, so a 6th tab does not even load.
TABS_WARN_AT = 5
TABS_JS = f"""() => {{
  const ch = new BroadcastChannel('i2v-studio-tabs'), me = Math.random().toString(36).slice(2), seen = new Map();
  const show = () => {{
    const now = Date.now();
    for (const [id, t] of seen) if (now - t > 120000) seen.delete(id);
    const el = document.querySelector('#tabs-warning');
    if (!el) return;
    const many = seen.size + 1 >= {TABS_WARN_AT};
    el.classList.toggle('hidden', !many);
    el.style.display = many ? 'block' : 'none';
    el.dataset.tabs = String(seen.size + 1);
  }};
  ch.onmessage = (e) => {{
    if (e.data.bye) seen.delete(e.data.id); else seen.set(e.data.id, Date.now());
    if (e.data.hello) ch.postMessage({{id: me}});
    show();
  }};
  ch.postMessage({{id: me, hello: true}});
  setInterval(() => {{ ch.postMessage({{id: me}}); show(); }}, 2000);
  addEventListener('pagehide', () => ch.postMessage({{id: me, bye: true}}));
  show();
}}"""
