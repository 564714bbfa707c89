from rest_framework.routers import SimpleRouter

from todos.views import LabelViewSet, TaskListViewSet, TaskViewSet

app_name = "todos"

router = SimpleRouter()
router.register("tasks", TaskViewSet, basename="task")
router.register("lists", TaskListViewSet, basename="list")
router.register("labels", LabelViewSet, basename="label")

urlpatterns = router.urls
