"""The item counts the official pipeline's `collate_preds` demands of every predictions file (the
2025 evaluation data), and the same counts read from a data folder, for a rehearsal on a subset.
Plain data and the standard library; never imports torch or gradio.
"""

from __future__ import annotations

import json
from pathlib import Path

from core.errors import UserError

STRICT_SMALL_REVISIONS = 19  # chck_1M..9M, 10M..100M
STRICT_REVISIONS = 28  # ... and 200M..1000M


def _table(text: str) -> dict[str, int]:
    words = text.split()
    return {name: int(count) for name, count in zip(words[::2], words[1::2])}


BLIMP = _table("""
superlative_quantifiers_2 986 superlative_quantifiers_1 979 anaphor_gender_agreement 971 principle_a_reconstruction 967
irregular_past_participle_adjectives 961 sentential_subject_island 961 wh_island 960 left_branch_island_simple_question 951
coordinate_structure_constraint_object_extraction 949 tough_vs_raising_1 948 left_branch_island_echo_question 947
principle_a_c_command 946 regular_plural_subject_verb_agreement_2 945 irregular_past_participle_verbs 942
determiner_noun_agreement_with_adj_2 941 principle_a_domain_3 941 determiner_noun_agreement_with_adjective_1 933
anaphor_number_agreement 931 determiner_noun_agreement_2 931 existential_there_quantifiers_1 930 determiner_noun_agreement_1 929
matrix_question_npi_licensor_present 929 adjunct_island 928 existential_there_subject_raising 924 animate_subject_trans 923
drop_argument 920 tough_vs_raising_2 920 wh_vs_that_with_gap 919 sentential_negation_npi_licensor_present 919
principle_a_case_2 915 principle_a_domain_2 915 principle_a_domain_1 914 npi_present_2 914 principle_a_case_1 912
existential_there_quantifiers_2 911 wh_vs_that_with_gap_long_distance 910 npi_present_1 909
coordinate_structure_constraint_complex_left_branch 906 passive_2 903 wh_questions_subject_gap 898 animate_subject_passive 895
irregular_plural_subject_verb_agreement_2 892 regular_plural_subject_verb_agreement_1 890 only_npi_licensor_present 882
wh_vs_that_no_gap_long_distance 875 distractor_agreement_relative_clause 871 sentential_negation_npi_scope 871 intransitive 868
transitive 868 wh_vs_that_no_gap 861 wh_questions_object_gap 859 wh_questions_subject_gap_long_distance 857 inchoative 855
complex_np_island 846 passive_1 840 determiner_noun_agreement_with_adj_irregular_2 840 only_npi_scope 837 ellipsis_n_bar_2 828
determiner_noun_agreement_irregular_2 820 causative 818 existential_there_object_raising 812
irregular_plural_subject_verb_agreement_1 804 ellipsis_n_bar_1 802 distractor_agreement_relational_noun 788
expletive_it_object_raising 759 determiner_noun_agreement_with_adj_irregular_1 718 determiner_noun_agreement_irregular_1 681
""")
SUPPLEMENT = _table("hypernym 842 qa_congruence_easy 64 qa_congruence_tricky 165 subject_aux_inversion 3867 turn_taking 280")
EWOK = _table("""agent-properties 2210 social-relations 1548 physical-relations 818 material-dynamics 770
physical-interactions 556 spatial-relations 490 social-properties 328 quantitative-properties 314 social-interactions 294
material-properties 170 physical-dynamics 120""")
ENTITY = {
    f"{split}_{ops}_ops": n
    for split, counts in (
        ("regular", (606, 607, 606, 606, 568, 159)),
        ("ambiref", (607, 607, 604, 604, 615, 187)),
        ("move_contents", (605, 606, 605, 606, 529, 156)),
    )
    for ops, n in enumerate(counts)
}
COMPS = _table("base 49340 wugs_dist_before 13896 wugs_dist_in_between 13896 wugs 13896")
GLUE = _table("boolq 1635 mnli 4908 mrpc 204 multirc 2424 qqp 20215 rte 139 wsc 52")
READING, WUG_ADJ, WUG_PAST = 1726, 200, 50
# AoA rows per checkpoint: collate_preds demands 6560 in one version of the 2025 pipeline and 8005 in
# a later one (each the (word, context) count of the cdi_childes.json it shipped with, MIN_CONTEXT 20);
# the count is read from the data given (`aoa_rows`), these are what a real hand-in can hold.
AOA_OFFICIAL = (6560, 8005)

# task -> {UID: items} or one count for every UID; fast = the fast_eval/ subsample.
FAST = {
    "blimp": 200,
    "blimp_supplement": 50,
    "ewok": 100,
    "entity_tracking": {k: v for k, v in ENTITY.items() if k.startswith("regular")},
    "reading": READING,
    "wug_adj": WUG_ADJ,
    "wug_past": WUG_PAST,
}
FULL = {
    "blimp": BLIMP,
    "blimp_supplement": SUPPLEMENT,
    "ewok": EWOK,
    "entity_tracking": ENTITY,
    "reading": READING,
    "wug_adj": WUG_ADJ,
    "wug_past": WUG_PAST,
    "comps": COMPS,
    **GLUE,
}

# task -> (its data folder in fast_eval/, in full_eval/, the pipeline's --task)
FOLDERS = {
    "blimp": ("blimp_fast", "blimp_filtered", "blimp"),
    "blimp_supplement": ("supplement_fast", "supplement_filtered", "blimp"),
    "ewok": ("ewok_fast", "ewok_filtered", "ewok"),
    "entity_tracking": ("entity_tracking_fast", "entity_tracking", "entity_tracking"),
    "wug_adj": ("wug_adj_nominalization", "wug_adj_nominalization", "wug_adj"),
    "wug_past": ("wug_past_tense", "wug_past_tense", "wug_past"),
    "comps": (None, "comps", "comps"),
}


def expected(task: str, uid: str, fast: bool, counted: dict | None = None) -> int | None:
    """Items a predictions file must hold for `uid` of `task` (None: the pipeline knows no such UID):
    the pipeline's count, or the one `counted` from the data (a rehearsal)."""
    if counted is not None:
        return counted.get(task, {}).get(uid)
    table = (FAST if fast else FULL)[task]
    return table.get(uid.lower()) if isinstance(table, dict) else table


def count_data(root: Path, fast: bool) -> dict[str, dict[str, int]]:
    """{task: {UID: items}} of a data folder (`evaluation_data/`), read as the suite reads it."""
    from core.evaluate.babylm.tasks import read_task

    base = Path(root) / ("fast_eval" if fast else "full_eval")
    out: dict[str, dict[str, int]] = {}
    for task, (fast_folder, full_folder, pipeline_task) in FOLDERS.items():
        folder = base / str(fast_folder if fast else full_folder)
        if (fast and fast_folder is None) or not folder.is_dir():
            continue
        counts: dict[str, int] = {}
        for item in read_task(folder, pipeline_task, 0).items:
            counts[item.uid] = counts.get(item.uid, 0) + 1
        out[task] = counts
    reading = base / "reading" / "reading_data.csv"
    if reading.is_file():
        with reading.open(encoding="utf-8") as f:
            import csv

            out["reading"] = {"reading": sum(1 for _ in csv.DictReader(f))}
    glue = base / "glue_filtered"
    for name in GLUE:
        valid = glue / f"{name}.valid.jsonl"
        if valid.is_file():
            out[name] = {name: sum(1 for line in valid.read_text(encoding="utf-8").splitlines() if line.strip())}
    return out


def load_json(path: Path, part: str) -> dict:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise UserError(f"{path}: cannot be read as JSON ({err}); make the {part} part again") from None


def aoa_rows(data_root: Path) -> int | None:
    """The (word, context) rows the AoA suite scores per checkpoint on `data_root`'s
    cdi_childes.json (the pipeline's filter), or None when the data has no such file."""
    from core.evaluate.babylm.aoa import WORDS_FILE, find_file, read_words

    path = find_file(Path(data_root), WORDS_FILE)
    return None if path is None else sum(len(c) for c in read_words(path).contexts)
