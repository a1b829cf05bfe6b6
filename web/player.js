// A player: profile and deep stats, performance over time, weapons, maps, hit locations, rivals, recent matches,
// achievements with progress. ?guid=GUID, or ?member=FORUM_ID (resolved to the member's GUID).
'use strict';

nav('');

function hours(secs) {
  const m = Math.round((Number(secs) || 0) / 60);
  return Math.floor(m / 60) + ' h ' + String(m % 60).padStart(2, '0') + ' min';
}

async function resolveGuid() {
  const guid = param('guid');
  if (guid) return guid;
  const member = param('member');
  if (!member) return null;
  try {
    const p = await api('/stats/member/' + enc(member));
    return p.guid || p.player_id || null;
  } catch (e) {
    return null;
  }
}

async function main() {
  const guid = await resolveGuid();
  const ids = ['profile', 'performance', 'weapons', 'maps', 'hitlocs', 'rivals', 'matches', 'achievements'];
  if (!guid) {
    document.getElementById('profile').replaceChildren(
        message('No player named: open a player from a leaderboard or a match (player.html?guid=...).', 'error'));
    ids.slice(1).forEach((id) => document.getElementById(id).replaceChildren());
    page([]);
    return;
  }
  const P = '/stats/player/' + enc(guid);
  const profile = api(P);
  profile.catch(() => null);  // handled by its section
  await Promise.all([
    section(
        'profile',
        async () => {
          const p = await profile;
          document.getElementById('title').textContent = p.name || guid;
          document.title = (p.name || guid) + ' · mohstats';
          return [
            cards([
              ['Kills', fmt(p.kills), 'kills'],
              ['Deaths', fmt(p.deaths), 'deaths'],
              ['K/D', fmt(p.kd_ratio), 'kd_ratio'],
              ['Headshots', fmt(p.headshots), 'headshots'],
              ['Matches', fmt(p.matches_played), 'matches_played'],
              ['Wins', fmt(p.wins), 'wins'],
              ['Win rate', fmt(p.win_rate) + ' %', 'win_rate'],
              ['Kills a minute', fmt(p.kpm), 'kpm'],
              ['Playtime', hours(p.playtime_seconds), 'playtime'],
              ['Distance', fmt(p.distance_km) + ' km', 'distance_km'],
              ['Suicides', fmt(p.suicides), 'suicides'],
              ['Last seen', when(p.last_seen), 'last_seen'],
            ]),
            p.member_id ? el('p', {}, 'Forum member #' + p.member_id + (guid.startsWith('unauth_') ? '' : '')) :
                          el('p', {class: 'msg'},
                             guid.startsWith('unauth_') ?
                                 'A guest slot (' + guid + '): every guest who played in this slot counts here.' :
                                 'Not linked to a forum account.'),
          ];
        }),
    section(
        'performance',
        async () => {
          const perf = await api(P + '/performance');
          if (!perf.labels || !perf.labels.length) return message('No matches yet.');
          const canvas = el('canvas', {'aria-label': 'kills and deaths per match'});
          const box = el('div', {class: 'chart'}, canvas);
          setTimeout(
              () => lineChart(
                  canvas, perf.labels.map((d, i) => i + 1 + ' · ' + d.slice(5)),
                  [
                    {label: 'Kills', data: perf.kills}, {label: 'Deaths', data: perf.deaths},
                    {label: 'K/D', data: perf.kd}
                  ]),
              0);
          return box;
        }),
    section(
        'weapons',
        async () => table(
            [
              {title: 'Weapon', cell: (r) => weaponLink(r.weapon_name)},
              {title: 'Kills', num: true, cell: (r) => fmt(r.kills)},
              {title: 'Deaths by it', num: true, cell: (r) => fmt(r.deaths)},
              {title: 'Headshots', num: true, cell: (r) => fmt(r.headshots)},
              {title: 'Avg distance (m)', num: true, cell: (r) => fmt(r.avg_distance, 1)},
            ],
            await api(P + '/weapons'), 'No weapon used yet.')),
    section(
        'maps',
        async () => table(
            [
              {title: 'Map', cell: (r) => mapLink(r.map_name)},
              {title: 'Matches', num: true, cell: (r) => fmt(r.matches_played)},
              {title: 'Kills', num: true, cell: (r) => fmt(r.kills)},
              {title: 'K/D', num: true, cell: (r) => fmt(r.kd_ratio)},
              {title: 'Win rate', num: true, cell: (r) => fmt(r.win_rate) + ' %'},
            ],
            await api(P + '/maps'), 'No map played yet.')),
    section(
        'hitlocs',
        async () => {
          const body = await api(P + '/heatmap/body');
          const rows = Object.entries(body || {}).map(([loc, n]) => ({loc, n})).sort((a, b) => b.n - a.n);
          const max = Math.max(1, ...rows.map((r) => r.n));
          return table(
              [
                {title: 'Where', cell: (r) => r.loc.replace(/_/g, ' ')},
                {title: 'Kills', num: true, cell: (r) => fmt(r.n)},
                {
                  title: '',
                  cell: (r) =>
                      el('div', {class: 'bar'}, el('span', {style: 'width:' + Math.round(100 * r.n / max) + '%'}))
                },
              ],
              rows, 'No kill with a hit location yet.');
        }),
    section(
        'rivals',
        async () => {
          const d = await api(P + '/deep');
          const r = d.rivals || {}, c = d.combat || {};
          return table([{title: '', cell: (x) => x[0]}, {title: '', cell: (x) => x[1]}], [
            [
              'Nemesis (killed them most)',
              r.nemesis_guid ? [playerLink(r.nemesis_guid, r.nemesis_name), ' × ' + r.nemesis_kills] : '–'
            ],
            [
              'Favourite victim',
              r.victim_guid ? [playerLink(r.victim_guid, r.victim_name), ' × ' + r.victim_kills] : '–'
            ],
            ['Best kill streak', fmt(c.highest_streak)],
            [
              'Double / triple / quad kills',
              fmt(c.double_kills) + ' / ' + fmt(c.triple_kills) + ' / ' + fmt(c.quad_kills)
            ],
            ['Torso / limb kills', fmt(c.torso_kills) + ' / ' + fmt(c.limb_kills)],
          ]);
        }),
    section(
        'matches',
        async () => {
          const m = await api(P + '/matches?limit=10');
          return table(
              [
                {title: 'Map', cell: (r) => matchLink(r.match_id, mapTitle(r.map_name))},
                {title: 'Team', cell: (r) => el('span', {class: 'team-' + r.team}, r.team || '–')},
                {title: 'Kills', num: true, cell: (r) => fmt(r.kills)},
                {title: 'Deaths', num: true, cell: (r) => fmt(r.deaths)},
                {title: 'Result', cell: (r) => (r.won ? 'won' : r.result || '–')},
                {title: 'When', cell: (r) => when(r.started_at)},
              ],
              m.list, 'No match played yet.');
        }),
    section(
        'achievements',
        async () => {
          const a = await api('/achievements/player/' + enc(guid));
          const list = a.achievements || [];
          const unlocked = list.filter((x) => x.unlocked);
          const progress = list.filter((x) => !x.unlocked && x.progress_percent > 0)
                               .sort((x, y) => y.progress_percent - x.progress_percent)
                               .slice(0, 10);
          return [
            el('p', {},
               fmt(a.unlocked_count) + ' of ' + fmt(a.total_count) + ' unlocked, ' + fmt(a.total_points) + ' points.'),
            table(
                [
                  {title: 'Achievement', cell: (x) => el('span', {class: x.unlocked ? null : 'locked'}, x.name)},
                  {title: 'What', cell: (x) => x.description},
                  {
                    title: 'Progress',
                    cell: (x) =>
                        (x.unlocked ? 'unlocked ' + when(x.unlocked_date) :
                                      el('div', {class: 'bar', title: x.progress_percent + ' %'},
                                         el('span', {style: 'width:' + Math.round(x.progress_percent) + '%'})))
                  },
                ],
                unlocked.concat(progress),
                a.member_id ? 'Nothing unlocked or started yet.' :
                              'Achievements are for forum members who log in on a server.'),
          ];
        }),
  ]);
  // An unknown player: one message, not one per section.
  try {
    await profile;
  } catch (e) {
    if (e.status === 404) {
      for (const id of ids.slice(1)) {
        const box = document.getElementById(id);
        box.replaceChildren();
        if (box.previousElementSibling && box.previousElementSibling.tagName === 'H2')
          box.previousElementSibling.hidden = true;
      }
    }
  }
  page([]);
}

main();
