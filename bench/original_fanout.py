#!/usr/bin/env python3
"""The original design's fan-out, for the whole-process benchmark (bench/run-process.js).

The master scheduler this project replaces was a Python Cloud Function: for every enabled collector it
POSTed a JSON body to the collector's URL from a ThreadPoolExecutor of max_concurrent_collectors
workers, timed each call, caught its errors (requests' exception names as error_type), and wrote an
execution report (start_time, end_time, duration_seconds, collectors.<name>.{status, http_status,
error, error_type, duration_seconds, result}, summary). This is that loop, standard library only
(urllib instead of requests, which is not in the standard library), logging each collector as it ends.

The standard library reads no YAML, so the collectors come as JSON ({"name": "url", ...}): this side
is spared the config parsing that the scheduler's measured process does.

Usage: original_fanout.py COLLECTORS_JSON CONCURRENCY REPORT_FILE
"""
import json
import logging
import sys
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor, as_completed
from datetime import datetime, timezone

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
log = logging.getLogger("master-scheduler")


def trigger(name, url, execution_id, timeout):
    body = json.dumps(
        {"executionId": execution_id, "collector": name,
         "scheduledTime": datetime.now(timezone.utc).isoformat(), "attempt": 1}
    ).encode()
    request = urllib.request.Request(
        url, data=body, method="POST",
        headers={"Content-Type": "application/json", "User-Agent": "master-scheduler"},
    )
    started = time.time()
    entry = {"status": "failed", "http_status": None, "error": None, "error_type": None, "result": None}
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            entry["http_status"] = response.status
            entry["result"] = json.loads(response.read() or b"null")
            entry["status"] = "success"
    except urllib.error.HTTPError as error:
        entry.update(http_status=error.code, error=str(error), error_type="HTTPError")
    except TimeoutError as error:
        entry.update(error=str(error), error_type="Timeout")
    except (urllib.error.URLError, OSError) as error:
        entry.update(error=str(error), error_type="ConnectionError")
    entry["duration_seconds"] = round(time.time() - started, 3)
    return name, entry


def main():
    collectors = json.load(open(sys.argv[1]))
    concurrency = int(sys.argv[2])
    report_file = sys.argv[3]
    start = datetime.now(timezone.utc)
    execution_id = start.strftime("%Y%m%dT%H%M%SZ")
    results = {}
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        futures = [pool.submit(trigger, name, url, execution_id, 300) for name, url in collectors.items()]
        for future in as_completed(futures):
            name, entry = future.result()
            results[name] = entry
            if entry["status"] == "success":
                log.info("Collector %s succeeded in %.3fs", name, entry["duration_seconds"])
            else:
                log.error("Collector %s failed: %s", name, entry["error"])
    end = datetime.now(timezone.utc)
    statuses = [r["status"] for r in results.values()]
    report = {
        "start_time": start.isoformat(),
        "end_time": end.isoformat(),
        "duration_seconds": (end - start).total_seconds(),
        "collectors": results,
        "summary": {
            "total": len(results),
            "succeeded": statuses.count("success"),
            "failed": statuses.count("failed"),
            "skipped": 0,
        },
    }
    with open(report_file, "w") as out:
        json.dump(report, out, indent=2)
    print(f"{report['summary']['succeeded']} of {len(results)} succeeded in {report['duration_seconds']:.2f} s")
    return 0 if report["summary"]["failed"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
