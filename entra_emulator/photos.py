"""Graph user photos: metadata, sizes and bytes (learn.microsoft.com/graph/api/profilephoto-get)."""
import hashlib
import io

from werkzeug.wrappers import Response

from entra_emulator import graph, web

def _photo(ctx, key):
    ctx.require(graph.PHOTO_READ)
    user = graph.find_user(ctx, key)
    data = ctx.tenant.photo(user)
    if data is None:
        raise graph.GraphFailure(404, "ImageNotFound", "Exception of type 'Microsoft.Fast.Profile.Core.Exception."
                                                 "ImageNotFoundException' was thrown.")
    return user, data



HD_SIZES = (48, 64, 96, 120, 240, 360, 432, 504, 648)


def _image_size(data):
    from PIL import Image

    return Image.open(io.BytesIO(data)).size


def _photo_sizes(data):
    """The sizes Graph offers for a photo: the standard square sizes up to the uploaded one, and the upload."""
    width, height = _image_size(data)
    sizes = [(n, n) for n in HD_SIZES if n <= min(width, height)]
    if (width, height) not in sizes:
        sizes.append((width, height))
    return sizes


def _photo_meta(ctx, user, data, size=None):
    width, height = size or _image_size(data)
    etag = '"' + hashlib.sha1(data).hexdigest()[:16].upper() + '"'
    return {"@odata.context": f"{ctx.state.graph_url}/v1.0/$metadata#users('{user['id']}')/photo/$entity",
            "@odata.mediaContentType": "image/jpeg", "@odata.mediaEtag": etag, "id": f"{width}X{height}",
            "height": height, "width": width}, etag


def _sized(data, size_text):
    """(width, height) of a /photos/{size} segment such as "48x48", or 404 when that size is not offered."""
    for size in _photo_sizes(data):
        if size_text.lower() == f"{size[0]}x{size[1]}":
            return size
    raise graph.GraphFailure(404, "ImageNotFound", "Exception of type 'Microsoft.Fast.Profile.Core.Exception."
                                             "ImageNotFoundException' was thrown.")


def user_photo(ctx, key, size=None):
    user, data = _photo(ctx, key)
    meta, _ = _photo_meta(ctx, user, data, _sized(data, size) if size else None)
    return web.json_response(ctx.request, meta)


def user_photos(ctx, key):
    user, data = _photo(ctx, key)
    metas = []
    for size in _photo_sizes(data):
        meta, _ = _photo_meta(ctx, user, data, size)
        meta.pop("@odata.context")
        metas.append(meta)
    return web.json_response(ctx.request, {
        "@odata.context": f"{ctx.state.graph_url}/v1.0/$metadata#users('{user['id']}')/photos", "value": metas})


def user_photo_value(ctx, key, size=None):
    from PIL import Image

    user, data = _photo(ctx, key)
    _, etag = _photo_meta(ctx, user, data)
    if size is not None:
        width, height = _sized(data, size)
        if (width, height) != _image_size(data):
            out = io.BytesIO()
            Image.open(io.BytesIO(data)).convert("RGB").resize((width, height)).save(out, "JPEG", quality=85)
            data = out.getvalue()
    response = Response(data, content_type="image/jpeg")
    response.headers["ETag"] = etag
    return response
