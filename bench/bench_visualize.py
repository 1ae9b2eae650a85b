"""visualize on a large group: a replay as fast as it goes, headless.

    python bench/bench_visualize.py [FLOWS] [--frame N] [--window N] [--zeo] [--rebuild]

FLOWS (default 10,000,000) generated flows (bench/gen_binetflow.py) are
loaded once into /tmp/stf-bench-visualize-FLOWS/stf.db with stf in batch mode
(`datasets -c`, `connections -g`, `models -g`); later runs reuse it
(--rebuild makes it again).

Then, in one process that opens the database as the console does (--zeo:
through a ZEO server on loopback, started in the process), `visualize
0` gathers its Replay (one pass over the group's chunks: the windows) and the
replay runs through the core (stf.core.flows.replay.Playback) with nothing
drawn: flows evenly spaced, N (--frame, default 100,000) a call, as a screen
would take them at a high speed; then a few frames as the screen draws them
(the tuples ranked, the letters of a page of them read). It reports:
  - the gathering time and the replay's flows per second;
  - a frame's time (the first page of the tuples shown ranked, its 40 states read);
  - the periodicity sort: its first ranking after a jump to the middle (the
    letters so far of every tuple shown judged, their states read from the
    models' columns), then a frame that brought 1,000 or 100,000 more flows
    (only the tuples they touched judged again);
  - peak memory: ru_maxrss of the process, and tracemalloc's peak during a
    second replay (numpy's arrays included), against the size of the group's
    flow columns in the database (44 bytes a flow) and of its start column.
The memory of the replay must stay bounded by its window (stf.core.flows.
replay.WINDOW_FLOWS flows) and a few numbers per tuple, not grow with the
group's flows.
"""
import argparse
import resource
import shutil
import sys
import time
import tracemalloc
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(ROOT))

import bench_listings  # noqa: E402
import numpy as np  # noqa: E402
import bench_models  # noqa: E402

FRAME_ROWS = 40
FRAMES = 20
COLUMN_BYTES = 5 * 8 + 4      # start, dur, size, offset, line (int64) and label (int32)


def build(folder, flows):
    path, _ = bench_models.flow_file(flows)
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    began = time.perf_counter()
    bench_listings.batch(folder / 'stf.db', [f'datasets -c {path} --name bench',
                                              'connections -g', 'models -g'])
    (folder / 'ready').write_text('built\n')
    print(f'database built in {time.perf_counter() - began:.0f} s')


def open_app(database, zeo=False):
    """An App on the database, as a console opens it: the file, or (zeo)
    through a ZEO server started here on loopback."""
    from stf.console import config
    from stf.console.app import App
    from stf.db import database as stf_database, storages
    if zeo:
        import ZEO
        (host, port), _ = ZEO.server(path=str(database))
        storage = storages.open_zeo(f'{host}:{port}', wait_timeout=30)
    else:
        storage = storages.open_file_storage(database)
    app = App(config.load(), stf_database.Database(storage))
    app.interactive = True
    # A console reads its completion values (every model id) after a
    # command; that memory is the console's, not the replay's.
    app.refresh_completion = lambda: None
    return app


def gather(app):
    began = time.perf_counter()
    reply = app.execute('visualize 0')
    if not reply.ok:
        sys.exit(f'visualize failed: {[getattr(item, "text", item) for item in reply.items]}')
    return reply.items[0], time.perf_counter() - began


def replay_all(playback, frame):
    """Every flow, `frame` a call; (seconds, calls)."""
    began, calls = time.perf_counter(), 0
    playback.speed, playback.rate = 0.0, float(frame)
    playback.jump(playback.order.first - 1)     # reads the first window
    playback.paused = False
    while not playback.finished:
        playback.advance(1.0)
        calls += 1
    return time.perf_counter() - began, calls


def frames(item):
    """Seconds of one frame: the ranking and a page of states."""
    playback = item.playback
    playback.jump(playback.order.first + (playback.order.last - playback.order.first) // 2)
    began = time.perf_counter()
    for _ in range(FRAMES):
        page = playback.ranked(FRAME_ROWS)    # as the view takes its page
        item.states([playback.order.ids[at] for at in page.tolist()])
        playback.step()
    return (time.perf_counter() - began) / FRAMES, playback.showing


def periodicity_frames(playback, flows_per_frame=(1_000, 100_000)):
    """(seconds of the first ranking after a jump, tuples it judged,
    {flows a frame: (seconds a frame, tuples judged a frame)})."""
    playback.sort = 'periodicity'
    playback.jump(playback.order.first + (playback.order.last - playback.order.first) // 2)
    began = time.perf_counter()
    playback.ranked(FRAME_ROWS)
    first, judged = time.perf_counter() - began, playback.showing
    found = {}
    for flows in flows_per_frame:
        playback.speed, playback.rate, playback.paused = 0.0, float(flows), False
        seconds, tuples = 0.0, 0
        for _ in range(FRAMES):
            before = playback.seen.copy()
            playback.advance(1.0)
            tuples += int(np.count_nonzero(playback.seen != before))
            began = time.perf_counter()
            playback.ranked(FRAME_ROWS)
            seconds += time.perf_counter() - began
        found[flows] = (seconds / FRAMES, tuples / FRAMES)
    playback.sort = 'recent'
    return first, judged, found


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('flows', nargs='?', type=int, default=10_000_000)
    parser.add_argument('--frame', type=int, default=100_000)
    parser.add_argument('--window', type=int, help='flows per window (stf.core.flows.replay.'
                        'WINDOW_FLOWS): less memory, more chunk reads')
    parser.add_argument('--zeo', action='store_true', help='read through a ZEO server '
                        '(started in this process: its memory counts too)')
    parser.add_argument('--rebuild', action='store_true')
    parser.add_argument('--folder', type=Path, help='where the database is made and kept '
                        '(default /tmp/stf-bench-visualize-FLOWS)')
    args = parser.parse_args()
    from stf.core.flows import replay
    if args.window:
        replay.WINDOW_FLOWS = args.window
    folder = args.folder or Path(f'/tmp/stf-bench-visualize-{args.flows}')
    if args.rebuild or not (folder / 'ready').exists():
        build(folder, args.flows)
    app = open_app(folder / 'stf.db', args.zeo)
    item, gathered = gather(app)
    gathered_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    playback = item.playback
    total, tuples = playback.total, len(playback.order.ids)
    print(f'group: {total:,} flows, {tuples:,} tuples, {playback.order.windows} windows of '
          f'about {replay.WINDOW_FLOWS:,} flows; gathered in {gathered:.1f} s')
    seconds, calls = replay_all(playback, args.frame)
    assert playback.shown == total, (playback.shown, total)
    print(f'replay: {total:,} flows in {seconds:.1f} s ({total / seconds:,.0f} flows/s, '
          f'{calls} calls of {args.frame:,})')
    frame, shown = frames(item)
    print(f'frame: {frame * 1000:.1f} ms (a page of {FRAME_ROWS} of {shown:,} tuples shown '
          'ranked, their states read)')
    first, judged, per_frame = periodicity_frames(playback)
    print(f'periodicity sort: first ranking after a jump {first * 1000:.0f} ms ({judged:,} '
          'tuples judged); then a frame of ' + ', of '.join(
              f'{flows:,} flows {seconds * 1000:.1f} ms ({tuples:,.0f} tuples judged)'
              for flows, (seconds, tuples) in per_frame.items()))
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    tracemalloc.start()
    replay_all(playback, args.frame)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    mb = 1 << 20
    print(f'memory: peak RSS {rss / mb:,.0f} MB (the whole process; {gathered_rss / mb:,.0f} MB '
          f'once gathered); '
          f'replay peak (tracemalloc) {peak / mb:,.0f} MB; the group\'s flow columns '
          f'{total * COLUMN_BYTES / mb:,.0f} MB, its start column {total * 8 / mb:,.0f} MB')
    app.close()


if __name__ == '__main__':
    main()
