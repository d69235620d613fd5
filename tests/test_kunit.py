# The trait store's KUnit tests run at boot (built into the test kernel);
# their KTAP results are in the kernel log.
import re
import subprocess

EXPECTED_CASES = {
    "trait_size_classes", "trait_first_and_last_key", "trait_bad_arguments",
    "trait_full_store", "trait_resize_key", "trait_delete_first_middle_last",
    "traits_corrupt_headers", "traits_merge_replaces_and_keeps",
    "traits_merge_overflow_leaves_dst", "traits_random_against_model",
    "traits_block_new_and_gone", "traits_block_same_size_moves_nothing",
    "traits_block_room_and_corruption", "traits_block_random_against_store",
    "traits_block_random_alone", "traits_block_init_as_edit",
}


def ktap_suite(name):
    log = subprocess.run(["dmesg"], capture_output=True, text=True,
                         check=True).stdout
    lines = [re.sub(r"^\[[^]]*\]\s?", "", x) for x in log.splitlines()]
    start = lines.index(f"    # Subtest: {name}")
    cases, verdict = {}, None
    for line in lines[start + 1:]:
        m = re.match(r"^    (ok|not ok) \d+ (\S+)", line)
        if m:
            cases[m.group(2)] = m.group(1)
            continue
        m = re.match(rf"^(ok|not ok) \d+ {name}$", line)
        if m:
            verdict = m.group(1)
            break
    return cases, verdict


def test_trait_store_kunit_suite_passed():
    cases, verdict = ktap_suite("net_traits")
    assert set(cases) == EXPECTED_CASES
    failed = [c for c, r in cases.items() if r != "ok"]
    assert not failed
    assert verdict == "ok"
