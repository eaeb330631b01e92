"""The storage I/O observatory behind the stage profiler (pipelines.observability.profiler).

counters: what the kernel counts for this process (/proc/self/io, faults, block-I/O wait), process-wide by
nature. recorder: what our own code does (fsyncs, files opened, accesses), counted per stage by the recorder
handed to it. access: Darshan-style access sizes and sequential share of the reads and writes we make
ourselves. training_io: per-step compute vs I/O wait and checkpoint saves, in DLIO's field names.
page_cache: cold vs warm page cache for our own files. probe: index load (read vs mmap) and query stages.
io_report and metrics: the HTML page and the Prometheus text of a run's profile. io_plan: storage sizing and
checkpoint intervals (Young 1974, Daly 2006). fsio: durable writes and traced files. profiler: the stage seam.
"""
