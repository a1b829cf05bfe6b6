// Every match, newest first, paged.
'use strict';

nav('matches.html');

const PAGE = 25;
let pageNo = Math.max(1, Number(param('page')) || 1);

async function load() {
  history.replaceState(null, '', '?page=' + pageNo);
  await section('list', async () => {
    const m = await api('/stats/matches?limit=' + PAGE + '&offset=' + (pageNo - 1) * PAGE);
    const pages = Math.max(1, Math.ceil((m.total || 0) / PAGE));
    document.getElementById('pageinfo').textContent = 'Page ' + pageNo + ' of ' + pages;
    document.getElementById('prev').disabled = pageNo <= 1;
    document.getElementById('next').disabled = pageNo >= pages;
    return table(
        [
          {title: 'Map', cell: (r) => matchLink(r.match_id, mapTitle(r.map_name))},
          {title: 'Mode', cell: (r) => (r.gametype || '').toUpperCase()},
          {title: 'Server', cell: (r) => serverLink(r.server_id, r.server_name)},
          {title: 'Players', num: true, cell: (r) => fmt(r.player_count)},
          {title: 'Kills', num: true, cell: (r) => fmt(r.total_kills)},
          {title: 'Winner', cell: (r) => r.winning_team || '–'},
          {title: 'Length', num: true, cell: (r) => duration(r.duration)},
          {title: 'Started', cell: (r) => when(r.started_at)},
        ],
        m.list, 'No match has been played yet.');
  });
}

document.getElementById('prev').addEventListener('click', () => {
  pageNo--;
  load();
});
document.getElementById('next').addEventListener('click', () => {
  pageNo++;
  load();
});
page([load()]);
