"""Image inpainting: pick an image, paint what is missing, press Play and watch the solvers fill it in."""
import dataclasses

import streamlit as st

import wlra_core as wc
from ui import controls, figures, images, loaders, mask, state, uploads
from ui.models import inpainting
from ui.runs import View, shortcuts
from ui.runs.controller import RunController

P = state.INPAINTING
BOUND = {"bind": "query-params", "persist_state": "session"}
RESOLUTIONS = [64, 96, 128, 192, 256, 384, 512]
# k = 12 and eps = 1e-4: on the 256 px samples with text and dropout, higher k without ridge overfits
# the observed pixels (lower PSNR on the hidden ones) and smaller eps only adds flat iterations.
# Past this many iterations the live charts draw lines without a marker per point (cheaper to redraw).
MARKERS_UP_TO = 60
DEFAULTS = controls.SolverSettings(k=12, eps=1e-4, solvers=("exact", "sketched"), max_iter=60)
PICTURES = {"best so far": "best", "inpainted": "inpainted", "X Yᵀ": "raw"}
# CSS px per picture by how many there are (the original and one per solver): one row on the stage
# at 1280 px wide with the sidebar open.
PICTURE_WIDTH = {1: 260, 2: 260, 3: 250, 4: 185, 5: 145}

state.init(P)
runner = RunController(P)
st.title("Image inpainting")
st.caption("Hide pixels with weight 0, and a rank-k approximation fitted to the rest fills them in. "
           "Weights between 0 and 1 say how much a pixel is trusted; W multiplies the squared residual. "
           f"{shortcuts.SHORTCUTS_HELP}.")

# Conditional messages go into containers made on every run, so that showing one never shifts
# the elements after it (a shift makes the browser mix old and new elements until the run ends).
messages = st.container()
# The stage: buttons, then the live counter, pictures and numbers, at the top of the page so that
# the pictures are in view while a run plays (the mask editor sits below it).
stage = st.container(key=state.key(P, "stage"))
# Streamlit fades elements still stale half a second into a rerun (opacity 0.33, "data-stale"):
# each tick of a run redraws the stage, so without this the running pictures blink to a third.
st.html(f"<style>.st-key-{state.key(P, 'stage')} [data-stale=\"true\"] "
        "{ opacity: 1 !important; transition: none !important; }</style>")
# The landing page's "Start here" opens this page with ?autoplay=1: Play is pressed once (the
# parameter goes, so a rerun or a later link does not press it again).
if st.query_params.get("autoplay") == "1":
    del st.query_params["autoplay"]
    runner.controls.push("play")
with stage:
    runner.buttons()
    run_messages = st.container()
    shortcuts.shortcuts(P, canvas_key=state.key(P, "canvas"),
                     canvas_label="Mask canvas: paint over the image to hide pixels (weight 0) or, with a "
                                  "brush weight of 1, to trust them again")

# --- the image -------------------------------------------------------------------------------
loaders.accept_pending_image(P, max_side=st.session_state.get(state.key(P, "res"), 256),
                             image_choice_key=state.key(P, "image"))

pick_col, res_col, upload_col = st.columns([2, 2, 3], vertical_alignment="bottom")
upload = state.get(P, "upload")
choices = loaders.sample_names() + ([loaders.UPLOAD_CHOICE] if upload else [])
choice = pick_col.selectbox(
    "Image", choices, key=state.key(P, "image"),
    format_func=lambda c: f"uploaded: {upload['name']}" if c == loaders.UPLOAD_CHOICE and upload else c, **BOUND)
res = res_col.select_slider("Working resolution (long side, px)", RESOLUTIONS, value=256, key=state.key(P, "res"),
                            help="The image is downsized to this long side before solving.", **BOUND)
upload_col.file_uploader(
    "…or upload an image (PNG, JPEG, GIF, WebP)", type=loaders.UPLOAD_TYPES, key=state.key(P, "image_file"),
    on_change=uploads.queue_upload, args=(P, state.key(P, "image_file"), "pending_upload"))
image, original_shape, image_id = loaders.current_image(P, choice, res)
h, w = image.shape[:2]
lift_col, patch_col = st.columns([2, 5], vertical_alignment="bottom")


def rank_for_lift() -> None:
    """Choosing groups sets k and max_iter to wc.inpaint's (6, each group's rank; 4 rounds); leaving
    groups sets the page's back (k = 12 for the patch matrix). A change between patches and pixels
    keeps the user's k. The sidebar says so."""
    chosen, before = state.get(P, "lift"), state.get(P, "lift_before", "patches")
    if (chosen == inpainting.GROUPS) != (before == inpainting.GROUPS):
        grouped = chosen == inpainting.GROUPS
        state.put(P, "k", wc.inpainting.DEFAULTS["k"]["groups"] if grouped else DEFAULTS.k)
        state.put(P, "max_iter", wc.inpainting.DEFAULTS["rounds"] if grouped else DEFAULTS.max_iter)


lift = lift_col.segmented_control(
    "Matrix", list(inpainting.LIFTS), default="patches", required=True,
    key=state.key(P, "lift"), on_change=rank_for_lift,
    help="Patches: one row per overlapping window of the image, averaged back (a far better image model). "
    "Pixels: the image itself as the matrix, the paper's setting. Groups: the best picture, wc.inpaint's "
    "default: windows grouped by similarity (block matching), one small exact WLRA per group, in rounds; "
    "camera 256 px, 50 % dropout: 30.1 dB on the hidden pixels against 26.9 dB for patches and 27.7 dB for "
    "scikit-image's biharmonic (benchmarks/results/inpainting.md). One run, named groups: the solver choice "
    "does not apply.", **BOUND)
if state.get(P, "lift_before") != lift:   # what rank_for_lift compares the next choice with; written only
    state.put(P, "lift_before", lift)     # on a change: a write on every rerun races Streamlit's fast reruns
patch = patch_col.select_slider("Patch size (px)", inpainting.PATCH_SIZES, value=8, key=state.key(P, "patch"),
                                disabled=lift == "pixels", help="Side of the windows (stride 2).", **BOUND)
loaders.accept_pending_mask(P, (h, w))
if (message := state.pop_error(P)) is not None:
    messages.error(message, icon=":material/error:")

caption = pick_col.empty()  # filled once the problem (and its matrix) is built
st.subheader("Mask: what the solver may trust")
mask_col, side_col = st.columns([5, 6], gap="large")

# --- the mask: canvas (left), presets and weights (right) ---------------------------------------
with side_col:
    a, b = st.columns(2)
    presets = mask.Presets(
        dropout=a.slider("Random dropout p", 0.0, 0.95, 0.25, 0.05, key=state.key(P, "dropout"), **BOUND),
        text=b.text_input("Text overlay", "WLRA", max_chars=40, key=state.key(P, "text"), **BOUND),
        text_size=b.slider("Text size", 0.05, 0.6, 0.3, 0.05, key=state.key(P, "text_size"), **BOUND),
        scratches=a.slider("Scratches", 0, 20, 0, key=state.key(P, "scratches"), **BOUND),
        block=a.slider("Centre block (side)", 0.0, 0.6, 0.0, 0.05, key=state.key(P, "block"), **BOUND),
        seed=b.number_input("Mask seed", 0, 10**6, 0, key=state.key(P, "mask_seed"), **BOUND),
    )
with mask_col:
    tool_col, clear_col = st.columns([2, 1], vertical_alignment="bottom")
    tool = tool_col.segmented_control("Paint tool", list(mask.TOOLS), default="Brush", required=True,
                                      key=state.key(P, "tool"), persist_state="session")
    clear_col.button("Clear", key=state.key(P, "clear"), on_click=mask.clear_painting, args=(P,),
                     icon=":material/ink_eraser:", width="stretch",
                     help="Remove every stroke. Hover the canvas for its toolbar: undo, redo, reset.")
    size_col, weight_col = st.columns(2)
    brush_size = size_col.slider("Brush size (canvas px)", 2, 60, 18, key=state.key(P, "brush"),
                                 persist_state="session")
    brush_weight = weight_col.slider("Brush weight", 0.0, 1.0, 0.0, 0.05, key=state.key(P, "brush_weight"),
                                     persist_state="session",
                                     help="0 hides the pixels, 1 trusts them fully (an eraser over presets).")
    st.html(mask.scale_legend_html(brush_weight))

    uploaded_weights = None
    if (mask_upload := state.get(P, "mask_upload")) is not None:
        try:
            uploaded_weights = loaders.decode_mask(mask_upload["bytes"], (h, w))
        except wc.InputError as exc:
            state.put(P, "mask_upload", None)
            messages.error(f"The uploaded mask was dropped: {exc}", icon=":material/error:")
    hidden_by_presets = mask.preset_hidden((h, w), presets)
    try:
        restored = mask.restored_layer(P, (h, w))   # strokes from a shared URL: part of the background
    except wc.InputError as exc:
        restored = None
        messages.error(str(exc), icon=":material/error:")
    below = mask.combine((h, w), uploaded=uploaded_weights, hidden=hidden_by_presets, painted=restored)
    painted = mask.painting_canvas(P, images.png_bytes(inpainting.masked_view(image, below)), image.shape,
                                   tool=tool, brush_size=brush_size, brush_weight=brush_weight)
    st.caption("Paint on the image. Polygon: click the corners, then the first corner again to close it. "
               "The URL keeps the strokes: share it to share the mask.")
    weights = mask.combine((h, w), uploaded=below, painted=painted)
    mask.share_strokes(mask.compose_layers(restored, painted))
    problem = inpainting.build_problem(image, weights, f"{image_id}@{res}", lift=lift, patch=patch)
with side_col:
    hidden = int(problem.hidden.sum())
    st.markdown(f'**<span data-testid="hidden-count">Hidden pixels: {hidden}</span>** of {h * w} '
                f"({100 * hidden / (h * w):.1f} %, weight below {mask.HIDDEN_BELOW})", unsafe_allow_html=True)
    with st.expander("Weights W, as the solver sees them"):
        figures.live_chart(figures.weights_heatmap(weights, mask.colorscale(), uirevision=image_id + str(image.shape)),
                          key=state.key(P, "weights_chart"),
                          height=min(320, mask.canvas_size(image.shape)[1]))
    st.file_uploader("Mask PNG (white = trusted, black = missing)", type=["png"], key=state.key(P, "mask_file"),
                     on_change=uploads.queue_upload, args=(P, state.key(P, "mask_file"), "pending_mask"))
    with st.container(horizontal=True):
        st.download_button("Mask PNG", mask.mask_png(weights), file_name="mask.png", mime="image/png",
                           key=state.key(P, "download_mask"), icon=":material/download:")
        if mask_upload is not None:
            st.button(f"Remove uploaded mask ({mask_upload['name']})", key=state.key(P, "drop_mask"),
                      on_click=state.put, args=(P, "mask_upload", None))

kind = "colour" if image.ndim == 3 else "grey"
scaled = "downscaled to" if original_shape != (h, w) else "worked on at"
caption.caption(f"Original {original_shape[1]}×{original_shape[0]} px, {scaled} {w}×{h} px ({kind}; "
                f"{inpainting.describe_matrix(problem)})")

# --- the runs (right) -------------------------------------------------------------------------
if problem.grouped:
    st.sidebar.warning(f"Matrix = groups runs one exact WLRA per group (one run, named {inpainting.GROUPS}): "
                       "the solver selection below does not apply (it is greyed out). Rank k is each group's rank (set to "
                       f"{wc.inpainting.DEFAULTS['k']['groups']}, wc.inpaint's default, when groups is chosen), "
                       f"max_iter the rounds at most (set to wc.inpaint's {wc.inpainting.DEFAULTS['rounds']}); "
                       "Seed does not apply (nothing is drawn at random).", icon=":material/info:")
settings = controls.solver_settings(P, k_max=128, defaults=DEFAULTS, solvers_apply=not problem.grouped)
if problem.grouped and settings.k > (rank_limit := problem.group_rank_limit):
    messages.warning(f"Rank k = {settings.k} is more than a group allows (at most {rank_limit}: a group's matrix "
                     f"has {wc.inpainting.DEFAULTS['group_size']} windows of {problem.lifting.patch}×"
                     f"{problem.lifting.patch} pixels): k = {rank_limit} is used.",
                     icon=":material/warning:")
    settings = dataclasses.replace(settings, k=rank_limit)
elif settings.k > (rank_limit := min(problem.M.shape)):  # a small image: the rank is at most min(n, m)
    messages.warning(f"Rank k = {settings.k} is more than this image allows (at most min(n, m) = {rank_limit} "
                     f"for its {problem.M.shape[0]}×{problem.M.shape[1]} matrix M): k = {rank_limit} is used.",
                     icon=":material/warning:")
    settings = dataclasses.replace(settings, k=rank_limit)
with stage:
    if problem.grouped:
        run_error = runner.sync(inpainting.signature(problem, settings), (inpainting.GROUPS,),
                                inpainting.group_starter(problem, settings),
                                measure=inpainting.group_measurer(problem), context=problem)
    else:
        run_error = runner.sync(inpainting.signature(problem, settings), settings.solvers,
                                inpainting.starter(problem, settings), measure=inpainting.measurer(problem),
                                context=problem)
    if run_error:
        run_messages.error(run_error, icon=":material/error:")


def render(view: View) -> None:
    shown = view.runs.context if view.runs is not None else problem
    notes = st.container()  # conditional elements sit in containers: see `messages` above
    if view.stale:
        notes.info("Settings changed since these runs started: Step or Play starts over with the new ones.",
                   icon=":material/info:")
    if view.runs is None:
        notes.caption("Press **Play** to watch every selected solver fit the masked image, or **Step** "
                      "for one iteration at a time.")
    pictures_box, readings = st.container(), st.container()
    with st.container(horizontal=True, vertical_alignment="bottom"):
        iteration = runner.replay_slider(view, container=st.container())
        show = PICTURES[st.segmented_control(
            "Pictures show", list(PICTURES), default="best so far", required=True, key=state.key(P, "pictures"),
            disabled=view.runs is None,
            help="Best so far: the inpainted image at the iteration with the lowest error on the held-out "
                 "known pixels. Inpainted: the original where it is trusted, X Yᵀ where it is hidden (blended by "
                 "weight), at the shown iteration. X Yᵀ: the rank-k approximation itself.", **BOUND)]
    # Counter, pictures and solver rows in one element: drawn together, never out of step.
    count = 1 + (len(view.runs.runs) if view.runs is not None else 0)
    pictures_box.html(inpainting.live_html(view, iteration, settings.max_iter, shown, show=show,
                                           width=PICTURE_WIDTH.get(count, 140)))
    if view.runs is not None:
        if shown.grouped and show == "raw":
            readings.info("Groups has no single X Yᵀ (one small fit per group, averaged back): its picture "
                          "is the inpainted image of the shown round.", icon=":material/info:")
        if (note := inpainting.bypass_note(shown, view.runs, iteration)) is not None:
            readings.warning(note, icon=":material/info:")
        if (line := inpainting.reading(view.runs, iteration)) is not None:
            readings.caption(line)
    charts_box, exports = st.container(), st.container()
    if view.runs is not None:
        histories = view.runs.histories()
        with charts_box:
            axis = st.segmented_control("Objective against", ["iteration", "seconds"], default="iteration",
                                        required=True, key=state.key(P, "axis"), **BOUND)
            x = "cumulative_seconds" if axis == "seconds" else "iteration"
            left, right = st.columns(2)
            # a groups round's objective is a sum over its groups: no single Σ W M² to scale it by
            y, y_title = (("objective", "objective (sum over the groups)") if shown.grouped
                          else ("relative_objective", "relative objective f / Σ W M²"))
            fig = figures.history_dict(histories, x=x, y=y, log_y=True, y_title=y_title,
                                        x_title=figures.SECONDS_TITLE if axis == "seconds" else "iteration",
                                        marker_at=iteration, uirevision=f"{x}|{view.runs.signature}",
                                        markers_up_to=MARKERS_UP_TO)
            with left:
                figures.live_chart(fig, key=state.key(P, "objective_chart"), height=260)
            fig = figures.history_dict(histories, y="psnr_hidden", y_title="PSNR hidden pixels (dB)",
                                        marker_at=iteration, uirevision=str(view.runs.signature),
                                        markers_up_to=MARKERS_UP_TO)
            with right:
                figures.live_chart(fig, key=state.key(P, "psnr_chart"), height=260)
    if view.runs is not None and not view.playing and view.runs.iterations:
        with exports:
            export(view, shown, iteration, show)


def export(view: View, shown: inpainting.Problem, iteration: int, show: str) -> None:
    runs = view.runs
    with st.container(horizontal=True, vertical_alignment="bottom"):
        name = st.selectbox("Export", list(runs.runs), key=state.key(P, "export_solver"), width=140)
        st.download_button("Reconstruction PNG",
                           lambda: inpainting.reconstruction_png(shown, runs, name, iteration, show=show),
                           file_name=f"reconstruction_{name}_it{iteration}.png", mime="image/png",
                           key=state.key(P, "download_png"), icon=":material/download:")
        st.download_button("Factors .npz", lambda: inpainting.factors_npz(shown, runs, settings, iteration),
                           file_name=f"factors_it{iteration}.npz", mime="application/octet-stream",
                           key=state.key(P, "download_npz"), icon=":material/download:", disabled=shown.grouped,
                           help="Groups keeps no global X, Y (one small fit per group)." if shown.grouped else None)
        st.download_button("History CSV", lambda: inpainting.history_csv(runs), file_name="history.csv",
                           mime="text/csv", key=state.key(P, "download_csv"), icon=":material/download:")


with stage:
    runner.live(render, inpainting.signature(problem, settings))
